from __future__ import annotations

import pytest

from mosaic_invoke.tasks.markdown import (
    TableSpan,
    find_tables,
    missing_column,
    read_table,
    replace_cell,
    split_lines,
)

TABLE = "| id | status |\n|---|---|\n| A-1 | done |\n"


def spans(text: str) -> list[TableSpan]:
    return list(find_tables(text, split_lines(text)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a\nb\n", ["a\n", "b\n"], id="lf"),
        pytest.param("a\r\nb", ["a\r\n", "b"], id="crlf-and-no-final-end"),
        pytest.param("a\u2028b\n", ["a\u2028b\n"], id="line-separator"),
        pytest.param("a\u2029b\n", ["a\u2029b\n"], id="paragraph-separator"),
        pytest.param("a\x85b\nc", ["a\x85b\n", "c"], id="next-line"),
        pytest.param("a\x0bb\x0cc\n", ["a\x0bb\x0cc\n"], id="vertical-tab-form-feed"),
        pytest.param("a\x1cb\x1dc\x1ed\n", ["a\x1cb\x1dc\x1ed\n"], id="separators"),
        pytest.param("a\rb\n", ["a\rb\n"], id="lone-carriage-return"),
        pytest.param("a\u2028", ["a\u2028"], id="separator-at-the-end"),
        pytest.param("", [], id="empty"),
    ],
)
def test_lines_end_at_line_feeds_only(text: str, expected: list[str]) -> None:
    assert split_lines(text) == expected


def test_a_separator_character_inside_a_cell_keeps_the_row_whole() -> None:
    text = "| id | status | description |\n|---|---|---|\n| A-1 | done | one\u2028two\x85three |\n| A-2 | done | x |\n"
    lines = split_lines(text)
    [span] = find_tables(text, lines)
    table = read_table("T.md", lines, span, "id", [])
    assert table.column("description") == ["one\u2028two\x85three", "x"]
    assert list(table.line_indices) == [2, 3]


@pytest.mark.parametrize(
    "fenced",
    [
        pytest.param("```\n" + TABLE + "```\n", id="backticks"),
        pytest.param("~~~markdown\n" + TABLE + "~~~\n", id="tildes-with-info"),
        pytest.param("   ````\n" + TABLE + "```\n````  \n", id="indented-and-a-shorter-fence-inside"),
        pytest.param("```\n" + TABLE + "~~~\n```\n", id="the-other-character-does-not-close"),
        pytest.param("```md\n" + TABLE + "```not a close\n```\n", id="a-fence-with-text-does-not-close"),
        pytest.param("```\r\n" + TABLE.replace("\n", "\r\n") + "```\r\n", id="crlf"),
    ],
)
def test_a_table_in_a_fenced_code_block_is_not_a_table(fenced: str) -> None:
    text = "Example:\n\n" + fenced + "\n" + TABLE
    assert [span.header_index for span in spans(text)] == [len(split_lines(text)) - 3]


def test_an_unclosed_fence_runs_to_the_end_of_the_file() -> None:
    assert spans(TABLE + "\n```\n" + TABLE) == [TableSpan(0, ("id", "status"), 2, 3)]


@pytest.mark.parametrize(
    "not_a_fence",
    [
        pytest.param("    ```\n", id="four-spaces-indent"),
        pytest.param("``\n", id="two-backticks"),
        pytest.param("``` a ` b\n", id="backtick-in-the-info-string"),
    ],
)
def test_lines_that_are_not_fences_open_no_block(not_a_fence: str) -> None:
    text = not_a_fence + "\n" + TABLE
    assert [span.header_index for span in spans(text)] == [2]


def test_a_byte_order_mark_does_not_hide_the_first_table() -> None:
    assert spans("\ufeff" + TABLE) == [TableSpan(0, ("id", "status"), 2, 3)]
    assert spans("\ufeff```\n" + TABLE + "```\n") == []  # nor a fence on the first line


def test_a_row_followed_by_a_line_without_a_pipe_is_no_table() -> None:
    assert spans("| just a line with a pipe\nprose\n") == []


def test_a_row_with_the_wrong_number_of_cells_is_reported_and_kept_aside() -> None:
    text = "| id | status |\n|---|---|\n| A-1 |\n| A-2 | done |\n|  |  |\n| | done |\n"
    lines = split_lines(text)
    problems: list[str] = []
    table = read_table("T.md", lines, next(find_tables(text, lines)), "id", problems)
    assert problems == [
        "T.md:3: row has 1 cells but the table header has 2; add or remove `|` so they match",
        "T.md:6: row has no `id`; fill in its `id` cell or delete the row",
    ]
    assert table.skipped == (("A-1",),)
    assert (table.column("id"), list(table.line_indices)) == (["A-2"], [3])


@pytest.mark.parametrize(
    ("line", "value", "expected"),
    [
        pytest.param("| A | not-started | x |\n", "done", "| A | done        | x |\n", id="keeps-width"),
        pytest.param("| A | done | x |\n", "in-progress", "| A | in-progress | x |\n", id="grows"),
        pytest.param("|A|done|x|\r\n", "failed", "|A|failed|x|\r\n", id="no-padding"),
        pytest.param("| A || x |\n", "done", "| A |done| x |\n", id="empty-cell"),
        pytest.param("| A |   | x |\n", "done", "| A | done | x |\n", id="blank-cell"),
        pytest.param("| A | done\u2028 | x |\n", "failed", "| A | failed | x |\n", id="separator-is-padding"),
    ],
)
def test_replace_cell_changes_that_cell_only(line: str, value: str, expected: str) -> None:
    assert replace_cell(line, 1, value) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("| id | State |", "; did you mean `State`? rename it to `status`", id="close"),
        pytest.param("| ID | owner |", " (its columns: ID, owner); add a `status` column", id="far"),
    ],
)
def test_a_table_missing_a_column_names_the_one_it_has(header: str, expected: str) -> None:
    text = "prose\n\n" + header + "\n|---|---|\n"
    lines = split_lines(text)
    message = missing_column("T.md", lines, next(find_tables(text, lines)), "id", "status")
    assert message == "T.md:3: table has an `id` column but no `status` column" + expected
