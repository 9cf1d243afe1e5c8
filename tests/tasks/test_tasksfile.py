from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic_invoke.errors import CoordError
from mosaic_invoke.tasks.tasksfile import TaskStatus, parse, read_tasks, set_status

STATUSES = [status.value for status in TaskStatus]


def tasks_file(tmp_path: Path, text: str, newline: str = "\n") -> Path:
    path = tmp_path / "TASKS.md"
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_columns_in_any_order_and_case_with_extra_columns_kept(tmp_path: Path) -> None:
    path = tasks_file(
        tmp_path,
        "| Owner | STATUS | Id | Milestone | Depends_On |\n"
        "|:------|:------:|---:|-----------|------------|\n"
        "| ana | done | A-1 | M1 | |\n"
        "| bo | not-started | A-2 | | A-1, A-1 |\n",
    )
    first, second = read_tasks(path)
    assert (first.id, first.status, first.milestone, first.line) == ("A-1", TaskStatus.DONE, "M1", 3)
    assert first.columns["owner"] == "ana"
    assert second.milestone is None
    assert second.depends_on == ("A-1", "A-1")
    assert second.description == ""


def test_several_tables_with_prose_between_and_other_tables_ignored(tmp_path: Path) -> None:
    text = """\
# Plan

| name | value |
|------|-------|
| not | a task table |

Some prose | with a pipe.

| id | status |
|----|--------|
| A-1 | done |

More prose.

| status | id | description |
| --- | --- | --- |
| blocked | B-1 | Needs A \\| B |
"""
    tasks = read_tasks(tasks_file(tmp_path, text))
    assert [(t.id, t.status.value, t.line) for t in tasks] == [("A-1", "done", 11), ("B-1", "blocked", 17)]
    assert tasks[1].description == "Needs A \\| B"


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, "| id | status |\n|---|---|\n| A-1 | done |\n| A-2 | not-started |\n", "\r\n")
    assert [t.status for t in read_tasks(path)] == [TaskStatus.DONE, TaskStatus.NOT_STARTED]
    set_status(path, "A-2", TaskStatus.IN_PROGRESS)
    assert path.read_bytes() == b"| id | status |\r\n|---|---|\r\n| A-1 | done |\r\n| A-2 | in-progress |\r\n"


def test_a_file_with_no_task_table_is_an_error_saying_what_one_needs(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, "# Tasks\n\n| name | value |\n|---|---|\n| a | b |\n")
    with pytest.raises(CoordError) as info:
        read_tasks(path)
    assert info.value.problems == (
        f"{path}: no task table; a task table is a markdown table whose header has an `id` and a `status` column, "
        "e.g. `| id | status |`",
    )


def test_a_task_table_with_no_rows_yet_has_no_tasks(tmp_path: Path) -> None:
    assert read_tasks(tasks_file(tmp_path, "# Tasks\n\n| id | status |\n|----|--------|\n")) == []


def test_a_table_with_an_id_but_no_status_column_is_named_with_its_line(tmp_path: Path) -> None:
    """Alone it is an error; beside a task table, a warning for the caller to show."""
    state_table = "| id | state |\n|---|---|\n| A-1 | done |\n"
    path = tasks_file(tmp_path, "# Tasks\n\n" + state_table)
    with pytest.raises(CoordError) as info:
        read_tasks(path)
    expected = f"{path}:3: table has an `id` column but no `status` column; did you mean `state`? rename it to `status`"
    assert info.value.problems == (expected,)
    parsed = parse(path, "# Tasks\n\n" + state_table + "\n| id | status |\n|---|---|\n| B-1 | done |\n")
    assert [task.id for task in parsed.tasks] == ["B-1"]
    assert parsed.warnings == (expected,)


def test_a_malformed_row_is_reported_once_and_its_dependents_are_not_blamed(tmp_path: Path) -> None:
    path = tasks_file(
        tmp_path,
        "| id | status | depends_on |\n|---|---|---|\n| T-003 | done |\n| T-004 | not-started | T-003 |\n"
        "| T-005 | not-started | T-009 |\n",
    )
    with pytest.raises(CoordError) as info:
        read_tasks(path)
    assert info.value.problems == (
        f"{path}:3: row has 2 cells but the table header has 3; add or remove `|` so they match",
        f"{path}:5: task T-005 depends on unknown task 'T-009'",
    )


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CoordError, match="tasks file not found"):
        read_tasks(tmp_path / "nope.md")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param("| A-1 | started |\n", ":3: task A-1 has unknown status 'started'; use one of", id="status"),
        pytest.param("| A-1 | done |\n| A-1 | done |\n", ":4: duplicate task id A-1 (also on line 3)", id="dup"),
        pytest.param("| A-1 | done | extra |\n", ":3: row has 3 cells but the table header has 2", id="cells"),
        pytest.param("| | done |\n", ":3: row has no `id`; fill in its `id` cell or delete the row", id="no-id"),
    ],
)
def test_errors_name_the_line(tmp_path: Path, rows: str, expected: str) -> None:
    path = tasks_file(tmp_path, "| id | status |\n|---|---|\n" + rows)
    with pytest.raises(CoordError) as info:
        read_tasks(path)
    assert any(p.startswith(str(path)) and expected in p for p in info.value.problems), info.value.problems


def test_unknown_dependency_names_the_line(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, "| id | status | depends_on |\n|---|---|---|\n| A-1 | done | |\n| A-2 | done | A-9 |\n")
    with pytest.raises(CoordError, match=r":4: task A-2 depends on unknown task 'A-9'"):
        read_tasks(path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, "| id | status |\n|---|---|\n| A | nope |\n| B | done | x |\n")
    with pytest.raises(CoordError) as info:
        read_tasks(path)
    assert len(info.value.problems) == 2


def test_set_status_keeps_alignment_padding(tmp_path: Path) -> None:
    path = tasks_file(
        tmp_path,
        "| id  | status      | description |\n|-----|-------------|-------------|\n| A-1 | not-started | Scaffold    |\n",
    )
    assert set_status(path, "A-1", TaskStatus.DONE) is TaskStatus.NOT_STARTED
    assert path.read_text().splitlines()[2] == "| A-1 | done        | Scaffold    |"
    set_status(path, "A-1", TaskStatus.IN_PROGRESS)
    assert path.read_text().splitlines()[2] == "| A-1 | in-progress | Scaffold    |"


def test_set_status_of_an_unknown_task(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, "| id | status |\n|---|---|\n| A-1 | done |\n")
    with pytest.raises(CoordError, match="no task A-9"):
        set_status(path, "A-9", TaskStatus.DONE)


# Characters str.splitlines would break a line at; in markdown they are text.
NOT_LINE_ENDS = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e\r"
cell_text = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|\\\r\n\x85\u2028\u2029"),
        st.sampled_from(NOT_LINE_ENDS),
    ),
    max_size=12,
).map(str.strip)
task_ids = st.from_regex(r"[A-Z]{1,3}-[0-9]{1,4}", fullmatch=True)


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A tasks file: maybe a BOM, prose, a fenced example table, then a table with shuffled
    columns, padding and extra columns."""
    extra = draw(st.lists(st.sampled_from(["owner", "notes", "Estimate"]), unique=True, max_size=2))
    columns = draw(st.permutations(["id", "Status", *extra]))
    ids = draw(st.lists(task_ids, min_size=1, max_size=8, unique=True))
    pad = draw(st.integers(0, 3))
    newline = draw(st.sampled_from(["\n", "\r\n"]))

    def row(cells: list[str]) -> str:
        return "|" + "|".join(" " * pad + c + " " * draw(st.integers(0, 3)) for c in cells) + "|" + newline

    lines = [draw(st.sampled_from(["", "\ufeff"]))]
    if draw(st.booleans()):
        lines += [draw(cell_text) + newline, newline]
    if draw(st.booleans()):
        # An example in a fence: were it read, its id would be a duplicate with an unknown status.
        indent = " " * draw(st.integers(0, 3))
        fence = draw(st.sampled_from(["```", "~~~", "````"]))
        example = {"id": ids[0], "Status": "not-a-status"}
        lines += [indent + fence + draw(st.sampled_from(["", "markdown"])) + newline, row(columns)]
        lines += [row(["---"] * len(columns)), row([example.get(c, "x") for c in columns])]
        lines += [fence + fence[0] * draw(st.integers(0, 2)) + newline, newline]
    lines += [row(columns), row(["---"] * len(columns))]
    for task_id in ids:
        values = {"id": task_id, "Status": draw(st.sampled_from(STATUSES))}
        lines.append(row([values.get(c, draw(cell_text)) for c in columns]))
    lines.append(draw(st.sampled_from(["", newline + "After the table." + newline])))
    return "".join(lines), ids


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(table=tables(), data=st.data())
def test_set_status_changes_only_the_status_cell(
    tmp_path: Path, table: tuple[str, list[str]], data: st.DataObject
) -> None:
    text, ids = table
    path = tmp_path / "TASKS.md"
    path.write_bytes(text.encode())
    task_id = data.draw(st.sampled_from(ids))
    status = data.draw(st.sampled_from(list(TaskStatus)))
    before = parse(path, text)
    index = before.line_of[task_id]
    set_status(path, task_id, status)
    after_text = path.read_bytes().decode()

    after = parse(path, after_text)
    assert after.task(task_id).status is status
    assert {t.id: t.status for t in after.tasks if t.id != task_id} == {
        t.id: t.status for t in before.tasks if t.id != task_id
    }
    # Every line but the task's is byte-identical (a BOM too); in that line only the status cell changed.
    assert after_text.startswith("\ufeff") == text.startswith("\ufeff")
    assert after.lines[:index] == before.lines[:index]
    assert after.lines[index + 1 :] == before.lines[index + 1 :]
    old_line, new_line = before.lines[index], after.lines[index]
    column = before.tasks[0].header.index("status")
    old_pipes = [i for i, c in enumerate(old_line) if c == "|"]
    new_pipes = [i for i, c in enumerate(new_line) if c == "|"]
    start, end, new_end = old_pipes[column] + 1, old_pipes[column + 1], new_pipes[column + 1]
    assert new_line[:start] == old_line[:start]
    assert new_line[new_end:] == old_line[end:]
    assert new_line[start:new_end].strip() == status.value


@st.composite
def mission_tables(draw: st.DrawFn) -> str:
    """One or two task tables, each with or without milestone and depends_on columns."""
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=2))
    ids = iter(draw(st.lists(task_ids, min_size=sum(sizes), max_size=sum(sizes), unique=True)))
    parts = []
    for size in sizes:
        columns = ["id", "status"] + [c for c in ("milestone", "depends_on") if draw(st.booleans())]
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for task_id in [next(ids) for _ in range(size)]:
            values = {
                "id": task_id,
                "status": draw(st.sampled_from(STATUSES)),
                "milestone": draw(st.sampled_from(["M1", "M2", ""])),
                "depends_on": "",
            }
            lines.append("| " + " | ".join(values[c] for c in columns) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\nSome prose.\n\n".join(parts)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    text=mission_tables(),
    statuses=st.sets(st.sampled_from(list(TaskStatus))),
    milestone=st.sampled_from([None, "M1", "M2"]),
)
def test_rows_chosen_column_wise_are_the_matching_tasks_in_file_order(
    tmp_path: Path, text: str, statuses: set[TaskStatus], milestone: str | None
) -> None:
    tasks_file = parse(tmp_path / "TASKS.md", text)
    expected = [
        (t.id, t.status, t.milestone or "")
        for t in tasks_file.tasks
        if t.status in statuses and (milestone is None or t.milestone == milestone)
    ]
    assert [(r.id, r.status, r.milestone) for r in tasks_file.rows(statuses, milestone)] == expected


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(text=mission_tables())
def test_status_values_are_each_tasks_status_in_strings(tmp_path: Path, text: str) -> None:
    tasks_file = parse(tmp_path / "TASKS.md", text)
    assert tasks_file.status_values() == {task.id: task.status.value for task in tasks_file.tasks}


def test_status_values_spell_a_status_written_in_another_case_as_its_value(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, "| id | status |\n|---|---|\n| A | Done |\n| B | IN-PROGRESS |\n| C | done |\n")
    assert parse(path, path.read_text()).status_values() == {"A": "done", "B": "in-progress", "C": "done"}


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(table=tables())
def test_the_column_wise_path_agrees_with_the_row_by_row_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: tuple[str, list[str]]
) -> None:
    from mosaic_invoke.tasks import markdown as _markdown

    text, _ = table
    fast = parse(tmp_path / "TASKS.md", text).tasks
    with monkeypatch.context() as patch:
        patch.setattr(_markdown, "_columns", lambda *args: None)
        slow = parse(tmp_path / "TASKS.md", text).tasks
    assert fast == slow


def test_rows_with_escaped_pipes_and_blank_rows_take_the_row_by_row_path(tmp_path: Path) -> None:
    path = tasks_file(
        tmp_path, "| id | status | description |\n|---|---|---|\n| A | done | a \\| b |\n|  |  |  |\n| B | done | c |\n"
    )
    assert [(t.id, t.description, t.line) for t in read_tasks(path)] == [("A", "a \\| b", 3), ("B", "c", 5)]


def test_write_status_keeps_an_edit_made_since_the_file_was_read(tmp_path: Path) -> None:
    from mosaic_invoke.tasks.tasksfile import load

    path = tasks_file(tmp_path, "| id | status |\n|---|---|\n| A-1 | not-started |\n")
    parsed = load(path)
    path.write_text(path.read_text() + "| A-2 | blocked |\n")  # an agent or a human, meanwhile
    parsed.write_status("A-1", TaskStatus.IN_PROGRESS)
    assert path.read_text() == "| id | status |\n|---|---|\n| A-1 | in-progress |\n| A-2 | blocked |\n"


def test_a_byte_order_mark_neither_hides_the_first_table_nor_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "TASKS.md"
    path.write_bytes(b"\xef\xbb\xbf| id | status |\r\n|---|---|\r\n| A-1 | not-started |\r\n")
    assert [(task.id, task.line) for task in read_tasks(path)] == [("A-1", 3)]
    set_status(path, "A-1", TaskStatus.DONE)
    assert path.read_bytes() == b"\xef\xbb\xbf| id | status |\r\n|---|---|\r\n| A-1 | done        |\r\n"


def test_an_example_table_in_a_fenced_code_block_holds_no_tasks(tmp_path: Path) -> None:
    example = "```markdown\n| id | status |\n|---|---|\n| A-1 | someday |\n```\n"
    path = tasks_file(tmp_path, "How to write tasks:\n\n" + example + "\n| id | status |\n|---|---|\n| A-1 | done |\n")
    assert [(task.id, task.status, task.line) for task in read_tasks(path)] == [("A-1", TaskStatus.DONE, 11)]


def test_a_line_separator_inside_a_cell_does_not_split_the_row(tmp_path: Path) -> None:
    text = "| id | status | description |\n|---|---|---|\n| A-1 | not-started | one\u2028two |\n| A-2 | done | x |\n"
    path = tasks_file(tmp_path, text)
    assert [(task.id, task.description, task.line) for task in read_tasks(path)] == [
        ("A-1", "one\u2028two", 3),
        ("A-2", "x", 4),
    ]
    set_status(path, "A-2", TaskStatus.FAILED)
    assert path.read_bytes() == text.replace("| A-2 | done |", "| A-2 | failed |").encode()


def test_a_status_written_through_a_symlink_changes_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    target = tasks_file(shared, "| id | status |\n|---|---|\n| A-1 | not-started |\n")
    target.chmod(0o640)
    (tmp_path / "docs").mkdir()
    link = tmp_path / "docs" / "TASKS.md"
    link.symlink_to(Path("..") / "shared" / "TASKS.md")
    inode = target.stat().st_ino
    set_status(link, "A-1", TaskStatus.DONE)
    assert link.is_symlink()
    assert target.read_text() == "| id | status |\n|---|---|\n| A-1 | done        |\n"
    assert target.stat().st_ino != inode  # replaced by a rename, not rewritten in place
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in shared.iterdir()) == ["TASKS.md"]
    assert sorted(p.name for p in link.parent.iterdir()) == ["TASKS.md"]


def test_a_line_starting_with_a_pipe_before_prose_is_not_a_table(tmp_path: Path) -> None:
    path = tasks_file(tmp_path, "| a note with a pipe\nprose\n\n| id | status |\n|---|---|\n| A-1 | done |\n")
    assert [task.id for task in read_tasks(path)] == ["A-1"]


def test_a_priority_that_reads_as_neither_word_nor_number_names_its_line(tmp_path: Path) -> None:
    path = tasks_file(
        tmp_path,
        "| id | status | priority |\n|---|---|---|\n| A | done | high |\n| B | done | urgent |\n| C | done | inf |\n",
    )
    with pytest.raises(CoordError) as info:
        read_tasks(path)
    assert list(info.value.problems) == [
        f"{path}:4: task B has unknown priority 'urgent'; use high, medium, low or a number (lower runs first)",
        f"{path}:5: task C has unknown priority 'inf'; use high, medium, low or a number (lower runs first)",
    ]


@pytest.mark.parametrize(
    ("cell", "rank"),
    [
        pytest.param("high", 1, id="high"),
        pytest.param("Medium", 2, id="medium-any-case"),
        pytest.param("LOW", 3, id="low"),
        pytest.param("", 2, id="none-is-medium"),
        pytest.param("0", 0, id="zero"),
        pytest.param("-1", -1, id="negative"),
        pytest.param("2.5", 2.5, id="fraction"),
        pytest.param("10", 10, id="number"),
    ],
)
def test_a_priority_is_a_word_or_a_number(tmp_path: Path, cell: str, rank: float) -> None:
    path = tasks_file(tmp_path, f"| id | status | priority |\n|---|---|---|\n| A | done | {cell} |\n")
    assert read_tasks(path)[0].priority == rank
