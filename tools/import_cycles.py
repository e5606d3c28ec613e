"""Find import cycles among Custodian's modules: `python tools/import_cycles.py [--apps]`.

Every import counts, also those inside functions (a lazy import still ties the two modules together) and
those under `if TYPE_CHECKING:`. A cycle is a strongly connected component of more than one module (Tarjan),
printed with one path around it. `--apps` checks the graph of apps instead (catalog -> core ...): an app may
import another only in the direction DESIGN.md allows, so that graph must have no cycle either. Exit status 1
when there is a cycle. Migrations are left out (Django loads them by name).
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "catalog", "pipelines", "quality", "compliance", "dashboard", "api", "config")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py") if (ROOT / package).is_dir() else []:
            if "migrations" not in path.parts:
                modules[module_name(path)] = path
    return modules


def resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` refers to (a module, or the package holding an imported attribute)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod when there is one
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        else:
            continue
        for name in names:
            target = resolve(name, modules)
            if target and target != module:
                found.add(target)
    return found


def graph(apps: bool = False) -> dict[str, set[str]]:
    modules = project_modules()
    edges = {name: imports_of(name, path, modules) for name, path in modules.items()}
    if apps:
        app_edges: dict[str, set[str]] = {}
        for name, targets in edges.items():
            app = name.split(".")[0]
            app_edges.setdefault(app, set()).update(
                t.split(".")[0] for t in targets if t.split(".")[0] != app
            )
        return app_edges
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index, low, on_stack, stack, result, counter = {}, {}, set(), [], [], [0]
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        result.append(sorted(component))
    return result


def path_around(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One cycle through the component's first member (breadth-first back to it)."""
    members, start = set(component), component[0]
    previous, queue = {start: None}, [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges.get(node, ())):
            if child == start:
                path = [node]
                while previous[path[-1]] is not None:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if child in members and child not in previous:
                previous[child] = node
                queue.append(child)
    return component


def main(argv: list[str]) -> int:
    apps = "--apps" in argv
    edges = graph(apps=apps)
    found = cycles(edges)
    for component in found:
        print(f"cycle of {len(component)}: " + " -> ".join(path_around(component, edges)))
    what = "apps" if apps else "modules"
    print(f"{len(edges)} {what}, {sum(map(len, edges.values()))} imports, {len(found)} cycle(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
