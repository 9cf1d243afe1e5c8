"""A team's template checked as a user would want: blocks the parent does not define, undefined names."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mosaic_invoke.errors import CoordError

if TYPE_CHECKING:
    import jinja2

_NO_ATTRIBUTE = re.compile(r"'(?P<kind>[\w.]+) object' has no attribute '(?P<name>[^']+)'")
_UNDEFINED = re.compile(r"'(?P<name>[^']+)' is undefined")


def check_blocks(environment: jinja2.Environment, name: str, where: str) -> None:
    """A block the extended templates do not define would be silently dropped: an error."""
    # Here, as in `prompt.render`: Jinja2 costs some 25 ms, which `status` never pays.
    import jinja2
    from jinja2 import meta, nodes

    source, filename, _ = environment.loader.get_source(environment, name)  # type: ignore[union-attr]
    tree = environment.parse(source, name, filename)
    parents = [parent for parent in meta.find_referenced_templates(tree) if parent]
    extends = [node for node in tree.find_all(nodes.Extends)]
    if not extends or not parents:
        return
    known: set[str] = set()
    try:
        known = _blocks_along(environment, parents, set())
    except jinja2.TemplateError:
        return  # the render says what is wrong with a parent
    problems = []
    for block in tree.find_all(nodes.Block):
        if block.name not in known:
            close = difflib.get_close_matches(block.name, sorted(known), n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            problems.append(
                f"{where}:{block.lineno}: block `{block.name}` is not in {', '.join(parents)}, so it would never "
                f"show; {hint}the blocks there are: {', '.join(sorted(known))}"
            )
    if problems:
        raise CoordError.from_problems(problems)


def _blocks_along(environment: jinja2.Environment, names: list[str], seen: set[str]) -> set[str]:
    """The blocks of the templates ``names`` and of every template they extend in turn."""
    from jinja2 import meta  # as in `check_blocks`

    found: set[str] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        found |= set(environment.get_template(name).blocks)
        source = environment.loader.get_source(environment, name)[0]  # type: ignore[union-attr]
        grandparents = [parent for parent in meta.find_referenced_templates(environment.parse(source)) if parent]
        found |= _blocks_along(environment, grandparents, seen)
    return found


def explain_undefined(message: str, context: Mapping[str, Any]) -> str:
    """Jinja's words for an undefined name, said in the template's terms, with what exists."""
    found = _NO_ATTRIBUTE.search(message)
    if found is not None:
        kind, name = found["kind"], found["name"]
        for variable, value in context.items():
            if type(value).__name__ == kind.rsplit(".", 1)[-1]:
                names = sorted(_names(value))
                close = difflib.get_close_matches(name, names, n=1)
                hint = f"did you mean `{close[0]}`? " if close else ""
                return f"`{variable}` has no `{name}`; {hint}it has: {', '.join(names) or 'nothing'}"
        return f"no `{name}` in that value"
    found = _UNDEFINED.search(message)
    if found is not None:
        names = sorted(context)
        close = difflib.get_close_matches(found["name"], names, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return f"`{found['name']}` is not defined; {hint}the names are: {', '.join(names)}"
    return message


def _names(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [str(key) for key in value]
    fields = getattr(value, "__dataclass_fields__", None) or getattr(value, "_fields", None)
    properties = [name for name in dir(type(value)) if isinstance(getattr(type(value), name, None), property)]
    if fields:
        return [str(name) for name in fields if not str(name).startswith("_")] + properties
    return [name for name in dir(value) if not name.startswith("_")]
