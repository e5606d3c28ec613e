"""The README's examples are tested: each section's one YAML block must apply as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

__all__ = ["README", "readme_yaml"]


def readme_yaml(section: str) -> str:
    """The single ```yaml block of the README section headed `## {section}`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    blocks = re.findall(r"```yaml\n(.*?)```", text[start : end if end != -1 else None], flags=re.S)
    assert len(blocks) == 1, f"the README's '{section}' section should hold exactly one YAML example"
    return blocks[0]
