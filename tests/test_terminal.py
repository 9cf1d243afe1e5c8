"""terminal.printable: control characters shown as escapes, text, tabs and newlines as they are."""

from __future__ import annotations

import pytest

from mosaic_invoke.terminal import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("plain text, ünïcode ✓ and ∞", "plain text, ünïcode ✓ and ∞", id="kept"),
        pytest.param("two\tcolumns\nand a second line", "two\tcolumns\nand a second line", id="tab-newline"),
        pytest.param("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H", id="clear-screen"),
        pytest.param("\x1b]0;title\x07", "\\x1b]0;title\\x07", id="set-title"),
        pytest.param("10%\r20%", "10%\\r20%", id="carriage-return"),
        pytest.param("\x9b31m\x7f\x00", "\\x9b31m\\x7f\\x00", id="c1-del-nul"),
    ],
)
def test_control_characters_are_shown_as_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown
