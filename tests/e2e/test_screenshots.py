"""`make screenshots` (tools/screenshots.py) writes the README's pictures; they are committed and shown."""

import importlib.util
import re
import struct
from pathlib import Path

from tests.readme import README

ROOT = Path(__file__).resolve().parents[2]


def screenshots_tool():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "tools" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_every_screenshot_is_committed_at_1280x800_and_shown_in_the_readme():
    tool = screenshots_tool()
    shown = re.findall(r"\]\((docs/screenshots/[\w.-]+\.png)\)", README.read_text(encoding="utf-8"))
    assert shown == [f"docs/screenshots/{name}" for name in tool.SCREENSHOTS]
    for name in tool.SCREENSHOTS:
        assert png_size(ROOT / "docs" / "screenshots" / name) == (
            tool.VIEWPORT["width"],
            tool.VIEWPORT["height"],
        )
