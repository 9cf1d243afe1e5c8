"""The report page in a real browser: headless Chromium renders the demo mission offline.

Run as a script to refresh the README's screenshot:
``.venv/bin/python tests/cli/test_report_browser.py docs/report.png``.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

# Under pytest the tests folder is on the path already; run as a script, it is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from views.test_report import ORCH, START, demo_mission

from mosaic_invoke.views.report.page import write_report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed: the report page is checked in headless Chromium "
    "(Debian: apt-get install --no-install-recommends chromium; .ci/run installs it when run as root)",
)
EVIL = "<script>document.title = 'owned'</script>"


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium, offline: every host name fails to resolve."""
    assert CHROMIUM is not None
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(argv, capture_output=True, timeout=120, check=False)


def demo_page(root: Path, start: datetime = START) -> Path:
    """The demo mission's page, with markup in the newest session's final message."""
    demo_mission(root, start)
    state_file = root / ORCH / "state.json"
    state = json.loads(state_file.read_text())
    state["sessions"][-1]["final_message"] = f"Stopped at the limit. {EVIL}"
    state_file.write_text(json.dumps(state, indent=2))
    return write_report(root / ".mosaic" / "mission.yaml")


def screenshot(page: Path, out: Path, width: int, height: int, profile: Path) -> None:
    result = chromium(f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri(), profile=profile)
    assert out.is_file(), result.stderr.decode(errors="replace")


def png_rows(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the (still filtered) rows of an 8-bit, non-interlaced PNG."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    position, idat = 8, b""
    width = height = channels = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, interlace) == (8, 0)
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    assert len(raw) == height * stride
    return width, height, [raw[offset + 1 : offset + stride] for offset in range(0, len(raw), stride)]


def test_the_rendered_page_shows_the_mission(tmp_path: Path) -> None:
    page = demo_page(tmp_path / "project")
    result = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    dom = result.stdout.decode()
    expected = [
        "<title>Ledger service v2: mission report</title>",
        "branch <code>mission/ledger-v2</code>",
        "6 / 12",
        "Storage API",
        "2 of 5 done (40%)",
        "Tasks done over time",
        "4 ended sessions (sess-001 to sess-004) did not record which tasks they finished",
        "How they ended",
        "waiting for the agent's usage limit to reset",
        "max-failures",
        "$17.96",
        "Transfers with idempotency keys",
        "T-007 was marked done, but `make test` failed (exit 2)",
        'href="logs/sess-014.verify.log"',
        "Stopped at the limit. &lt;script&gt;document.title = 'owned'&lt;/script&gt;",
    ]
    for text in expected:
        assert text in dom, text
    for label in ("completed", "failed", "interrupted", "crashed", "timed out", "usage limit"):
        assert f'{label}</span><span class="c">' in dom, label
    for label in ("accepted", "rejected", "unfinished", "none", "not recorded"):
        assert f'{label}</span><span class="c">' in dom, label
    assert "<script" not in dom  # the final message's markup stayed text
    assert dom.count("<svg") > 20


@pytest.mark.parametrize(("width", "height"), [(1200, 1600), (390, 844)], ids=["desktop", "phone"])
def test_a_screenshot_is_not_blank(tmp_path: Path, width: int, height: int) -> None:
    page = demo_page(tmp_path / "project")
    out = tmp_path / "shot.png"
    screenshot(page, out, width, height, tmp_path / "profile")
    shot_width, shot_height, rows = png_rows(out)
    assert (shot_width, shot_height) == (width, height)
    # A blank page gives a handful of distinct rows; text, bars and charts give hundreds.
    assert len(set(rows)) > height // 4


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report.png").resolve()
    # The demo's history ends a little before now, so that the page reads as of today.
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=18)
    with tempfile.TemporaryDirectory() as folder:
        screenshot(demo_page(Path(folder) / "project", start), target, 1100, 2000, Path(folder) / "profile")
    print(target)
