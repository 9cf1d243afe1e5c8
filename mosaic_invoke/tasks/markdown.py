"""Finding tables in markdown: line ends, a leading BOM, fenced code blocks, and the cells of a row.

Lines end at ``\\n`` (so also at ``\\r\\n``) and nowhere else: ``str.splitlines`` would also
split at U+2028, U+0085, form feeds and the like, which can stand inside a cell. A table
inside a fenced code block is an example, not a table.

Missions reach 100k rows, so a well-formed table is read a column at a time: one
``str.split("|")`` over the whole table, then slices, all in C. Tables that need more care
(escaped pipes, blank rows, rows with the wrong number of cells) are read row by row,
naming each problem's line.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import NamedTuple

BOM = "\ufeff"


class TableSpan(NamedTuple):
    """Where a table stands: its header line, and its body rows ``lines[start:end]``."""

    header_index: int
    header: tuple[str, ...]
    """The header's cells, stripped and in lower case."""
    start: int
    end: int


class Table(NamedTuple):
    """The rows of a table that have the header's number of cells, a column at a time."""

    header: tuple[str, ...]
    columns: list[Sequence[str]]
    """The stripped cells, one sequence per header column."""
    line_indices: Sequence[int]
    """Index in the file of each row's line."""
    skipped: tuple[tuple[str, ...], ...] = ()
    """The cells of the rows left out because their number of cells is wrong (each reported)."""

    def column(self, name: str) -> Sequence[str] | None:
        return self.columns[self.header.index(name)] if name in self.header else None

    def cells(self, name: str) -> Sequence[str]:
        """The column ``name``, which the header has."""
        return self.columns[self.header.index(name)]

    def row_at(self, index: int) -> int:
        """The row whose line is ``index`` in the file."""
        return bisect.bisect_left(self.line_indices, index)


def split_lines(text: str) -> list[str]:
    """The lines of ``text``, each keeping its end; only ``\\n`` ends a line."""
    lines = text.splitlines(keepends=True)
    # splitlines ends a line at every \n and maybe elsewhere: the same count means nowhere else.
    if len(lines) == text.count("\n") + (bool(text) and not text.endswith("\n")):
        return lines
    parts = text.split("\n")
    last = parts.pop()
    return [part + "\n" for part in parts] + ([last] if last else [])


def find_tables(text: str, lines: list[str]) -> Iterator[TableSpan]:
    """Every table of ``text`` (split into ``lines``), in file order, outside fenced code blocks."""
    first_chars = "".join(map(itemgetter(0), lines))  # a line is never empty: it keeps its end
    # A fence starts its line, after at most three spaces: most files need no search for one.
    maybe = "`" in first_chars or "~" in first_chars or " " in first_chars or first_chars[:1] == BOM
    fenced = iter(fenced_blocks(text) if maybe and ("```" in text or "~~~" in text) else ())
    fence = next(fenced, None)
    index, count = 0, len(lines)
    while index < count:
        if fence is not None and index >= fence[0]:
            index = max(index, fence[1])
            fence = next(fenced, None)
            continue
        line = lines[index] if index else lines[0].removeprefix(BOM)
        if not is_row(line) or index + 1 >= count or not is_separator(lines[index + 1]):
            index += 1
            continue
        header = tuple(line[start:end].strip().lower() for start, end in cell_spans(line))
        start = end = index + 2
        while True:
            # Most rows start with their pipe: found in C, the indented ones one at a time.
            other = _NOT_PIPE.search(first_chars, end)
            end = other.start() if other else count
            if end >= count or not is_row(lines[end]):
                break
            end += 1
        yield TableSpan(index, header, start, end)
        index = end


def read_tables(
    label: str, text: str, lines: list[str], key: str, required: str, problems: list[str]
) -> tuple[list[Table], list[str]]:
    """Every table whose header has the columns ``key`` and ``required``, read by `read_table`;
    and what to say of each table that has ``key`` but not ``required``, one line each."""
    tables: list[Table] = []
    without: list[str] = []
    for span in find_tables(text, lines):
        if key in span.header and required in span.header:
            tables.append(read_table(label, lines, span, key, problems))
        elif key in span.header:
            without.append(missing_column(label, lines, span, key, required))
    return tables, without


def read_table(label: str, lines: list[str], span: TableSpan, key: str, problems: list[str]) -> Table:
    """The rows of the table at ``span``; a row with the wrong number of cells, or with an
    empty ``key`` cell, is left out and reported in ``problems``. Blank rows are skipped."""
    header, start, end = span.header, span.start, span.end
    columns = _columns(len(header), lines, start, end)
    if columns is not None and "" not in columns[header.index(key)]:
        return Table(header, columns, range(start, end))
    rows: list[tuple[str, ...]] = []
    line_indices: list[int] = []
    skipped: list[tuple[str, ...]] = []
    for index in range(start, end):
        line = lines[index]
        cells = tuple(line[a:b].strip() for a, b in cell_spans(line))
        if not any(cells):
            continue
        if len(cells) != len(header):
            problems.append(
                f"{label}:{index + 1}: row has {len(cells)} cells but the table header has {len(header)}; "
                "add or remove `|` so they match"
            )
            skipped.append(cells)
        elif not cells[header.index(key)]:
            problems.append(f"{label}:{index + 1}: row has no `{key}`; fill in its `{key}` cell or delete the row")
        else:
            rows.append(cells)
            line_indices.append(index)
    columns = [list(column) for column in zip(*rows, strict=True)] or [[] for _ in header]
    return Table(header, columns, line_indices, tuple(skipped))


def missing_column(label: str, lines: list[str], span: TableSpan, present: str, missing: str) -> str:
    """What to say of the table at ``span``, which has a column ``present`` but none ``missing``."""

    line = lines[span.header_index].removeprefix(BOM)
    names = [line[start:end].strip() for start, end in cell_spans(line)]
    others = {name.lower(): name for name in names if name.lower() != present}
    where = f"{label}:{span.header_index + 1}: table has an `{present}` column but no `{missing}` column"
    close = difflib.get_close_matches(missing, list(others), n=1)
    if close:
        return f"{where}; did you mean `{others[close[0]]}`? rename it to `{missing}`"
    return f"{where} (its columns: {', '.join(names)}); add a `{missing}` column"


def _columns(width: int, lines: list[str], start: int, end: int) -> list[Sequence[str]] | None:
    """A well-formed table's cells a column at a time, or None if it needs the row-by-row path."""
    block = "".join(lines[start:end])
    if "\\" in block:
        return None
    parts = block.split("|")
    rows = end - start
    stride = width + 1
    if not rows or len(parts) != 1 + rows * stride or parts[0].strip():
        return None
    # What stands between one row's last pipe and the next row's first: white space with
    # exactly one line break. Anything else (a cell too many or too few) misaligns the stride.
    separators = Counter(parts[stride::stride])
    if any(sep.strip() for sep in separators):
        return None
    if sum(sep.count("\n") * n for sep, n in separators.items()) != block.count("\n"):
        return None
    without_break = sum(n for sep, n in separators.items() if "\n" not in sep)
    if without_break > 1 or (without_break == 1 and "\n" in parts[-1]):
        return None  # only the last row, at the end of the file, may lack its line break
    return [list(map(str.strip, parts[1 + column :: stride])) for column in range(width)]


def cell_spans(line: str) -> list[tuple[int, int]]:
    """Spans of the cells of a table row, between its unescaped pipes."""
    content_end = len(line.rstrip("\r\n"))
    start = line.index("|") + 1
    if "\\" in line:
        pipes = [i for i in range(start, content_end) if line[i] == "|" and line[i - 1] != "\\"]
    else:
        pipes = []
        position = line.find("|", start, content_end)
        while position != -1:
            pipes.append(position)
            position = line.find("|", position + 1, content_end)
    spans = []
    for pipe in pipes:
        spans.append((start, pipe))
        start = pipe + 1
    if line[start:content_end].strip():
        spans.append((start, content_end))
    return spans


def replace_cell(line: str, column: int, value: str) -> str:
    """``line`` with the text of cell ``column`` replaced by ``value``, every other character kept.

    The cell keeps its padding where the value fits, so aligned tables stay aligned."""
    start, end = cell_spans(line)[column]
    cell = line[start:end]
    if not cell.strip():
        return line[:start] + (f" {value} " if cell else value) + line[end:]
    lead = cell[: len(cell) - len(cell.lstrip())]
    trail = cell[len(cell.rstrip()) :]
    width = max(len(cell) - len(lead) - len(value), 1 if trail else 0)
    return line[:start] + lead + value + " " * width + line[end:]


def is_row(line: str) -> bool:
    return line.lstrip().startswith("|")


def is_separator(line: str) -> bool:
    spans = cell_spans(line) if "|" in line else []
    return bool(spans) and all(_is_rule(line[start:end].strip()) for start, end in spans)


def _is_rule(cell: str) -> bool:
    """A separator cell: dashes, with a colon at either end for alignment (``:---:``)."""
    core = cell.removeprefix(":").removesuffix(":")
    return bool(core) and not core.strip("-")


_NOT_PIPE = re.compile(r"[^|]")
# An opening or closing fence: up to three spaces, then three or more backticks or tildes.
_FENCE = re.compile("^(\ufeff?)[ ]{0,3}(`{3,}|~{3,})([^\n]*)", re.MULTILINE)


def fenced_blocks(text: str) -> list[tuple[int, int]]:
    """The lines ``(first, end)`` of each fenced code block, its fences included.

    A block closes at a fence of the same character at least as long with nothing after
    it, or at the end of the file (CommonMark)."""
    blocks: list[tuple[int, int]] = []
    opening: tuple[str, int] | None = None
    line = position = 0
    for match in _FENCE.finditer(text):
        bom, fence, rest = match.groups()
        if bom and match.start():
            continue  # a BOM counts only at the start of the file
        line += text.count("\n", position, match.start())
        position = match.start()
        if opening is None:
            if not (fence[0] == "`" and "`" in rest):  # else an inline code span, not a fence
                opening = (fence, line)
        elif fence[0] == opening[0][0] and len(fence) >= len(opening[0]) and not rest.strip(" \t\r"):
            blocks.append((opening[1], line + 1))
            opening = None
    if opening is not None:
        blocks.append((opening[1], text.count("\n") + 1))
    return blocks
