"""A team's template: a misspelt block or name is an error that says what exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import coord


def template(project: Path, body: str) -> Path:
    path = project / ".mosaic" / "templates" / "continuation.md.j2"
    path.parent.mkdir(parents=True)
    path.write_text('{% extends "mosaic/continuation.md.j2" %}\n' + body)
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "{% block instrucions -%}\nDo it\n{%- endblock %}\n",
            ".mosaic/templates/continuation.md.j2:2: block `instrucions` is not in mosaic/continuation.md.j2, "
            "so it would never show; did you mean `instructions`? the blocks there are: header, instructions, "
            "previous_session, resume_point, setup",
            id="unknown-block",
        ),
        pytest.param(
            "{% block instructions -%}\n{{ vars.teem }}\n{%- endblock %}\n",
            ".mosaic/templates/continuation.md.j2:3: `vars` has no `teem`; did you mean `team`? it has: team",
            id="unknown-key",
        ),
        pytest.param(
            "{% block instructions -%}\n{{ mision.name }}\n{%- endblock %}\n",
            ".mosaic/templates/continuation.md.j2:3: `mision` is not defined; did you mean `mission`? the names are: "
            "acceptance, branch, milestone, mission, previous_session, previous_task_status, progress, runtime, task, vars",
            id="unknown-name",
        ),
    ],
)
def test_a_mistake_in_a_team_template_is_one_line_naming_what_exists(project: Path, body: str, expected: str) -> None:
    mission = project / ".mosaic" / "mission.yaml"
    mission.write_text(mission.read_text() + "vars: {team: payments}\n")
    template(project, body)
    tasks_before = (project / "docs" / "TASKS.md").read_bytes()
    result = coord("run", "--print-only", cwd=project)
    assert result.returncode == 1
    assert result.stderr.strip() == f"coord: error: {expected}"
    assert "mappingproxy" not in result.stderr
    assert (project / "docs" / "TASKS.md").read_bytes() == tasks_before


def test_a_known_block_renders(project: Path) -> None:
    template(project, "{% block instructions -%}\nWork on {{ task.id }}\n{%- endblock %}\n")
    result = coord("run", "--print-only", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("Work on T-002")


def test_a_block_of_a_grandparent_template_is_known(project: Path) -> None:
    """A team template may extend one that extends the packaged one: every block up the chain counts."""
    folder = project / ".mosaic" / "templates"
    folder.mkdir(parents=True)
    (folder / "team.md.j2").write_text(
        '{% extends "mosaic/continuation.md.j2" %}\n{% block header -%}\n# Team\n{%- endblock %}\n'
    )
    (folder / "continuation.md.j2").write_text(
        '{% extends "team.md.j2" %}\n{% block instructions -%}\nWork on {{ task.id }}\n{%- endblock %}\n'
    )
    result = coord("run", "--print-only", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n\n", 1)[1].startswith("# Team")
    assert result.stdout.rstrip().endswith("Work on T-002")
