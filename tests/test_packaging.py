"""Dependencies: setup.py's tested ranges and the exact pins of constraints/py*.txt cannot drift apart.

setup.py gives ranges (so jaxau installs into an existing environment); constraints/py311.txt and
constraints/py313.txt are full pip locks (one per supported Python end) that the README's commands
and CI install with ``pip install -c``. Both are read as text (setup.py through ``ast``), so these
tests need neither setuptools nor a network.
"""

import ast
import glob
import os
import re

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONSTRAINTS = sorted(glob.glob(os.path.join(ROOT, "constraints", "py3*.txt")))
SETUP_ASSIGNMENTS = ("INSTALL_REQUIRES", "EXTRAS_REQUIRE")


def setup_literals(path: str = os.path.join(ROOT, "setup.py")) -> dict:
    """setup.py's top-level ``INSTALL_REQUIRES`` / ``EXTRAS_REQUIRE`` and the setup() keywords given as literals."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in SETUP_ASSIGNMENTS:
                out[node.targets[0].id] = ast.literal_eval(node.value)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and getattr(node.value.func, "attr", "") == "setup":
            for kw in node.value.keywords:
                if isinstance(kw.value, ast.Constant):
                    out[kw.arg] = kw.value.value
    return out


def ranged_requirements() -> list[Requirement]:
    """install_requires plus the ``test`` extra: everything CI installs from setup.py."""
    lit = setup_literals()
    return [Requirement(r) for r in lit["INSTALL_REQUIRES"] + lit["EXTRAS_REQUIRE"]["test"]]


def read_constraints(path: str) -> dict[str, Version]:
    """``{canonical name: pinned version}``; every line must be ``name==version`` (a lock, not ranges)."""
    pins = {}
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, (
            f"{os.path.basename(path)}:{n}: {line!r} is not an exact pin (name==version)")
        assert not req.extras and req.marker is None and req.url is None, f"{os.path.basename(path)}:{n}: {line!r}"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{os.path.basename(path)}:{n}: {req.name} pinned twice"
        pins[name] = Version(specs[0].version)
    return pins


def constraint_python(path: str) -> str:
    """'3.11' for constraints/py311.txt."""
    digits = re.fullmatch(r"py3(\d+)\.txt", os.path.basename(path)).group(1)
    return f"3.{digits}"


def test_two_constraints_files_exist():
    assert [os.path.basename(p) for p in CONSTRAINTS] == ["py311.txt", "py313.txt"]


@pytest.mark.parametrize("path", CONSTRAINTS, ids=os.path.basename)
def test_constraints_pin_every_requirement_inside_its_range(path):
    pins = read_constraints(path)
    for req in ranged_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in setup.py but not pinned in {os.path.basename(path)}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{os.path.basename(path)} pins {req.name}=={pins[name]}, outside setup.py's {req}")


@pytest.mark.parametrize("path", CONSTRAINTS, ids=os.path.basename)
def test_constraints_file_is_for_a_supported_python(path):
    python = Version(constraint_python(path))
    assert SpecifierSet(setup_literals()["python_requires"]).contains(python), (path, python)
    header = open(path, encoding="utf-8").read().split("\n", 3)
    assert any(f"Python {python}" in line for line in header[:3]), f"{path}: first lines must name Python {python}"


def test_every_range_is_bounded_and_its_lower_bound_was_tested():
    """Lower bound = the oldest version a constraints file pins (so it was installed and tested);
    an upper bound on every package (the next major or a known-breaking version)."""
    pinned = [read_constraints(p) for p in CONSTRAINTS]
    for req in ranged_requirements():
        ops = {s.operator: Version(s.version) for s in req.specifier}
        assert set(ops) == {">=", "<"}, f"{req}: give a tested range '>=low,<high'"
        versions = [p[canonicalize_name(req.name)] for p in pinned]
        assert ops[">="] == min(versions), (
            f"{req}: lower bound {ops['>=']} is not the oldest pinned (tested) version {min(versions)}")
        assert ops[">="] < ops["<"], str(req)


def test_accelerator_extras_follow_the_jax_range():
    lit = setup_literals()
    jax = next(r for r in map(Requirement, lit["INSTALL_REQUIRES"]) if r.name == "jax")
    for extra in ("gpu", "tpu"):
        (req,) = map(Requirement, lit["EXTRAS_REQUIRE"][extra])
        assert req.name == "jax" and req.specifier == jax.specifier, (extra, str(req))


def test_jaxlib_is_pinned_with_jax():
    for path in CONSTRAINTS:
        pins = read_constraints(path)
        assert pins["jaxlib"] == pins["jax"], path


def quick_start_commands() -> list[str]:
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = re.search(r"## Quick start\n.*?```bash\n(.*?)```", readme, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_commands_and_ci_install_the_py311_lock():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    for cmd in commands:
        assert cmd.startswith("python3.11 -m venv .venv && "), cmd
        assert "pip install -q -c constraints/py311.txt -e '.[test]'" in cmd, cmd
    assert "pytest -n 2 -q tests" in commands[1]
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert any(line.startswith(commands[1] + " ") for line in ci.splitlines()), \
        ".ci/run must run README's command 2 verbatim"
    assert "constraints/py313.txt" in ci, ".ci/run must also install the Python 3.13 lock"


def test_readme_documents_installing_into_an_existing_environment():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    plain = [line for line in quick_start.splitlines() if line.startswith("pip install ")]
    assert plain and all(" -c " not in line for line in plain), \
        "README's Quick start must show a plain `pip install` (setup.py's ranges, no constraints file)"
    for path in CONSTRAINTS:
        assert f"constraints/{os.path.basename(path)}" in quick_start, path


def test_ci_fast_subset_names_existing_test_files():
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    subset = re.search(r"^FAST_TESTS=\((.*?)^\)", ci, re.S | re.M).group(1).split()
    assert "tests/test_packaging.py" in subset
    missing = [f for f in subset if not os.path.isfile(os.path.join(ROOT, f))]
    assert not missing and len(set(subset)) == len(subset), missing


def test_package_data_ships_the_files_the_library_reads():
    # A non-editable install copies only .py files plus package_data: the face assets and the
    # rasterizer's C++ source (jaxau.geometry.native compiles it on first use) must be matched.
    tree = ast.parse(open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read())
    setup_call = next(n.value for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                      and getattr(n.value.func, "attr", "") == "setup")
    package_data = ast.literal_eval(next(kw.value for kw in setup_call.keywords if kw.arg == "package_data"))
    root = os.path.join(ROOT, "jaxau")
    shipped = {os.path.relpath(p, root) for pattern in package_data["jaxau"]
               for p in glob.glob(os.path.join(root, pattern), recursive=True) if os.path.isfile(p)}
    from jaxau.geometry import native
    assert os.path.relpath(native.SOURCE, root) in shipped
    assert any(p.startswith(os.path.join("face", "assets")) for p in shipped)
