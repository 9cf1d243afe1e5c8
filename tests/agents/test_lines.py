"""agents.lines: output cut into lines, each bounded whatever the line length."""

from __future__ import annotations

import tracemalloc

from mosaic_invoke.agents.lines import Lines


def fed(lines: Lines, *chunks: bytes) -> list[bytes]:
    found = [line for chunk in chunks for line in lines.feed(chunk)]
    last = lines.end()
    return [*found, last] if last is not None else found


def test_lines_are_cut_at_each_newline_wherever_the_chunks_end() -> None:
    assert fed(Lines(), b"one\ntw", b"o\n", b"\nthree", b" and last") == [b"one", b"two", b"", b"three and last"]
    assert fed(Lines(), b"ends\n") == [b"ends"]
    assert fed(Lines()) == []


def test_a_line_past_the_limit_keeps_its_start_and_says_how_much_was_cut() -> None:
    lines = Lines(limit=10)
    assert fed(lines, b"0123456", b"789abcdef\nshort\n", b"x" * 25) == [
        "0123456789 … [6 bytes more]".encode(),
        b"short",
        "xxxxxxxxxx … [15 bytes more]".encode(),
    ]


def test_forty_megabytes_without_a_newline_cost_no_more_than_the_limit() -> None:
    chunk = b"x" * 65536
    lines = Lines()
    tracemalloc.start()
    try:
        for _ in range(640):  # 40 MiB, in the pieces a pipe gives
            assert list(lines.feed(chunk)) == []
        last = lines.end()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert last is not None
    assert last.startswith(b"x" * lines.limit)
    assert last.endswith(f" … [{640 * 65536 - lines.limit:,} bytes more]".encode())
    assert peak < 3 * lines.limit  # the kept start and one copy of it; never the whole line
