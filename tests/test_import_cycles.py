"""No module imports one that imports it back, and apps depend one way (DESIGN.md): `tools/import_cycles.py`
is the check, and this test runs it on the tree and on planted cycles."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "tools" / "import_cycles.py")
import_cycles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_cycles)


def test_no_module_imports_one_that_imports_it_back():
    edges = import_cycles.graph()
    found = import_cycles.cycles(edges)
    assert found == [], [" -> ".join(import_cycles.path_around(c, edges)) for c in found]


def test_apps_depend_one_way():
    edges = import_cycles.graph(apps=True)
    assert import_cycles.cycles(edges) == []
    assert edges["core"] == set()  # core reads no app


def test_the_check_finds_a_cycle_through_a_function_level_import(tmp_path, monkeypatch):
    package = tmp_path / "pipelines"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "runner.py").write_text("from pipelines.services import run_finish\n")
    (package / "services.py").write_text("def enqueue():\n    from pipelines.runner import execute\n")
    (package / "jobs.py").write_text("import pipelines.runner\n")
    monkeypatch.setattr(import_cycles, "ROOT", tmp_path)
    edges = import_cycles.graph()
    assert import_cycles.cycles(edges) == [["pipelines.runner", "pipelines.services"]]
    assert import_cycles.path_around(["pipelines.runner", "pipelines.services"], edges) == [
        "pipelines.runner",
        "pipelines.services",
        "pipelines.runner",
    ]
