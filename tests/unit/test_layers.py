"""The layer rules, as a test: each new violation fails it.

* ``toolkit/`` (the ``neuroedge`` core) imports no converter and no target, by import statement or
  by a module name in a string (a manifest naming code to import counts);
* ``targets/`` imports no ``converters/``;
* no import cycles between neuroedge modules (function-level imports count: a cycle is a cycle);
* nothing in the package, ``tests/`` or ``benchmarks/`` imports library code from ``examples/``:
  only example models, data, training and configs may be imported from there.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"toolkit": "neuroedge", "converters": "neuroedge.converters", "targets": "neuroedge.targets",
         "firmware_bridge": "neuroedge.firmware_bridge"}
# What examples/ may offer to tests and benchmarks: example models (and model variants), their data and training.
EXAMPLE_MODULES = ("models", "data", "train", "model", "demo", "small")  # small: a model variant and its training


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in ROOTS.items():
        for path in (REPO / folder).rglob("*.py"):
            if "firmware" in path.relative_to(REPO / folder).parts[:-1]:
                continue
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    is_package = path.name == "__init__.py"
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", getattr(block.test, "attr", "")) == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: never imported at run time
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
    return found


def _strings(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    return [(n.value, n.lineno) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _is_core(module: str) -> bool:
    return module == "neuroedge" or (module.startswith("neuroedge.") and not module.startswith(
        ("neuroedge.converters", "neuroedge.targets", "neuroedge.firmware_bridge")))


def test_core_imports_no_converter_or_target() -> None:
    bad = []
    for module, path in _modules().items():
        if not _is_core(module):
            continue
        # a string naming a module inside them (an entry-point *group* name is not one)
        names = _imports(path, module) + [(s, n) for s, n in _strings(path) if "." in s.split("neuroedge.", 1)[-1]]
        for name, line in names:
            if name.startswith(("neuroedge.converters", "neuroedge.targets")):
                bad.append(f"{path.relative_to(REPO)}:{line} {name}")
    assert not bad, "toolkit/ must reach converters and targets only through the registry:\n" + "\n".join(bad)


def test_targets_import_no_converters() -> None:
    bad = [f"{path.relative_to(REPO)}:{line} {name}"
           for module, path in _modules().items() if module.startswith("neuroedge.targets")
           for name, line in _imports(path, module) if name.startswith("neuroedge.converters")]
    assert not bad, "targets/ must not import converters/ (shared code goes in toolkit/):\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for name, _ in _imports(path, module):
            # the longest known module the import names (``from a.b import c`` may name module a.b.c)
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                graph[module].add(name)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_library_code_imported_from_examples() -> None:
    bad = []
    files = [p for d in ("toolkit", "converters", "targets", "firmware_bridge", "tests", "benchmarks")
             for p in (REPO / d).rglob("*.py")]
    for path in files:
        for name, line in _imports(path, "x"):
            if not name.startswith("examples."):
                continue
            in_package = path.parts[len(REPO.parts)] in ROOTS
            parts = name.split(".")
            example = len(parts) > 1 and parts[1] == "models" or len(parts) > 2 and parts[2] in EXAMPLE_MODULES
            if in_package or not example:
                bad.append(f"{path.relative_to(REPO)}:{line} {name}")
    assert not bad, "library code belongs in the package, not examples/:\n" + "\n".join(sorted(set(bad)))
