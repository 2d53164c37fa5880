"""The package's import graph: no cycle, and no import from a lower layer to a higher one.

``LAYERS`` is the layer order, lowest first; a module belongs to the layer of the longest prefix
that names it. A module may import from its own layer and from any layer below. README's "Layout"
section states the same order (checked here, so the two cannot drift apart).
"""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LAYERS = (
    ("ground", ("jaxau", "jaxau.au", "jaxau.platform", "jaxau.io_utils", "jaxau.batching",
                "jaxau.geometry", "jaxau.validate", "jaxau.hosts", "jaxau.cli")),
    ("face", ("jaxau.face",)),
    ("data", ("jaxau.data",)),
    ("align", ("jaxau.align",)),
    ("models", ("jaxau.models",)),
    ("evaluation", ("jaxau.evaluation",)),
    ("train", ("jaxau.train",)),
    ("synthesis", ("jaxau.synthesis",)),
    ("stages", ("jaxau.stages",)),
    ("apps", ("jaxau.inference", "jaxau.report")),
)
# Imports allowed to run upwards, as (importer, imported) module pairs: at most one. The Fréchet
# distance measures sets in a trained estimator's feature space, so it loads that estimator.
ALLOWED_UPWARD = frozenset({("jaxau.evaluation.frechet", "jaxau.train.estimator")})


def module_files(root: str = ROOT, package: str = "jaxau") -> dict[str, str]:
    """``{module name: file path}`` of every module of ``package``."""
    out = {}
    for dirpath, _, files in os.walk(os.path.join(root, package)):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                name = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                out[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    return out


def import_graph(files: dict[str, str]) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, from every import statement (any depth)."""
    graph = {}
    for name, path in files.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        is_pkg = path.endswith("__init__.py")
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = name.split(".")[:len(name.split(".")) - node.level + is_pkg]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in files:  # `import jaxau.x.y` of a name inside a module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def layer_of(module: str, layers=LAYERS) -> int:
    best, level = -1, None
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            # "jaxau" names the package's own __init__ only; dotted prefixes name subtrees.
            if (module == p or ("." in p and module.startswith(p + "."))) and len(p) > best:
                best, level = len(p), i
    if level is None:
        raise KeyError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return level


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def upward_imports(graph: dict[str, set[str]], layers=LAYERS) -> set[tuple[str, str]]:
    return {(m, d) for m, deps in graph.items() for d in deps if layer_of(d, layers) > layer_of(m, layers)}


def test_the_package_has_no_import_cycle():
    assert find_cycle(import_graph(module_files())) is None


def test_no_import_runs_up_the_layers():
    graph = import_graph(module_files())
    assert len(ALLOWED_UPWARD) <= 1
    assert upward_imports(graph) - ALLOWED_UPWARD == set()


def test_every_module_has_a_layer():
    for m in module_files():
        layer_of(m)


def test_readme_states_the_same_layer_order():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^Layers, lowest first: (.+)$", text, re.M)
    assert m, "README's Layout section must have a line 'Layers, lowest first: a -> b -> ...'"
    assert [s.strip() for s in m.group(1).rstrip(".").split("->")] == [n for n, _ in LAYERS]


def test_checks_catch_a_cycle_and_an_upward_import(tmp_path):
    pkg = tmp_path / "jaxau"
    (pkg / "face").mkdir(parents=True)
    (pkg / "data").mkdir()
    for d in (pkg, pkg / "face", pkg / "data"):
        (d / "__init__.py").write_text("")
    (pkg / "au.py").write_text("import numpy\n")
    (pkg / "face" / "a.py").write_text("from jaxau import au\n\ndef f():\n    from jaxau.data import b\n")
    (pkg / "data" / "b.py").write_text("from jaxau.face import a\nfrom . import c\n")
    (pkg / "data" / "c.py").write_text("from .b import x\n")
    graph = import_graph(module_files(str(tmp_path)))
    assert graph["jaxau.face.a"] == {"jaxau.au", "jaxau.data.b"}
    assert graph["jaxau.data.b"] == {"jaxau.face.a", "jaxau.data.c"}
    assert graph["jaxau.data.c"] == {"jaxau.data.b"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 3
    assert upward_imports(graph) == {("jaxau.face.a", "jaxau.data.b")}
    # Without the lazy upward import the graph is clean, except the data-internal cycle.
    (pkg / "face" / "a.py").write_text("from jaxau import au\n")
    (pkg / "data" / "c.py").write_text("import numpy\n")
    graph = import_graph(module_files(str(tmp_path)))
    assert find_cycle(graph) is None and upward_imports(graph) == set()
    with pytest.raises(KeyError, match="no layer"):
        layer_of("jaxau.elsewhere")


def test_the_longest_test_files_named_for_scheduling_exist(request):
    """conftest's LONGEST_FILES start first under xdist; a renamed file would silently drop out."""
    from tests import conftest

    root = str(request.config.rootpath)
    for name in conftest.LONGEST_FILES:
        assert os.path.isfile(os.path.join(root, name)), name
