"""core/ is the shared kernel (DESIGN.md): every app may import it, and it imports none of them."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"
APPS = {"catalog", "pipelines", "quality", "compliance", "dashboard", "api"}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_core_imports_no_app(path):
    assert {name for name in imported_modules(path) if name.split(".")[0] in APPS} == set()
