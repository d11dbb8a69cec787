"""The layering rules of DESIGN.md, checked on the source.

- `signing/` imports no web framework, database, template engine, HTTP client or `birthreg`,
  directly (any import statement, nested ones too) or transitively (checked in a fresh interpreter).
- `signing/` never reads the clock: the moment always comes in as an argument.
- The ward and the registry meet only through the dossier over HTTP: neither imports the other.
"""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SIGNING = ROOT / "signing"
FORBIDDEN_IN_SIGNING = (
    "fastapi", "starlette", "sqlmodel", "sqlalchemy", "jinja2", "httpx", "uvicorn", "birthreg",
)
# Calls that read the clock: (the name or dotted name called).
CLOCK_CALLS = {
    "datetime.now", "datetime.utcnow", "datetime.today", "date.today",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today", "time.time", "time.time_ns",
}
CLOCK_FROM_IMPORTS = {("time", "time"), ("time", "time_ns")}


def python_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an import statement in path names (absolute; relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            # `from birthreg import registry` imports birthreg.registry.
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


def dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted_name(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def clock_reads(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted_name(node.func)
            if name in CLOCK_CALLS:
                yield node.lineno, name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, alias.name) in CLOCK_FROM_IMPORTS:
                    yield node.lineno, f"from {node.module} import {alias.name}"


def domain_violations(source: Path, other: str) -> list[str]:
    """Imports of birthreg.<other> (or below) from any file under source."""
    found = []
    for path in python_files(source):
        for lineno, module in imported_modules(path):
            if module == f"birthreg.{other}" or module.startswith(f"birthreg.{other}."):
                found.append(f"{path.relative_to(ROOT)}:{lineno} imports {module}")
    return found


def test_signing_has_modules() -> None:
    # Guards against the walk below passing because it found nothing.
    assert len(python_files(SIGNING)) >= 5


@pytest.mark.parametrize("path", python_files(SIGNING), ids=lambda p: p.name)
def test_signing_imports_no_service_layer(path: Path) -> None:
    bad = [
        f"line {lineno}: {module}"
        for lineno, module in imported_modules(path)
        if top_level(module) in FORBIDDEN_IN_SIGNING
    ]
    assert not bad, f"{path.relative_to(ROOT)} imports the service layer: {bad}"


@pytest.mark.parametrize("path", python_files(SIGNING), ids=lambda p: p.name)
def test_signing_reads_no_clock(path: Path) -> None:
    found = [f"line {lineno}: {name}" for lineno, name in clock_reads(path)]
    assert not found, f"{path.relative_to(ROOT)} reads the clock (pass `moment` in): {found}"


def test_signing_imports_nothing_forbidden_transitively() -> None:
    modules = [module_name(p) for p in python_files(SIGNING)]
    program = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    bad = sorted({m for m in loaded if top_level(m) in FORBIDDEN_IN_SIGNING})
    assert not bad, f"importing signing loads {bad}"


@pytest.mark.parametrize(("source", "other"), [("ward", "registry"), ("registry", "ward")])
def test_ward_and_registry_do_not_import_each_other(source: str, other: str) -> None:
    directory = ROOT / "birthreg" / source
    if not directory.is_dir():
        return  # the domain does not exist yet; the checker itself is tested below
    assert not domain_violations(directory, other)


def test_domain_checker_finds_every_import_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    ward = tmp_path / "birthreg" / "ward"
    ward.mkdir(parents=True)
    (tmp_path / "birthreg" / "__init__.py").write_text("")
    (ward / "__init__.py").write_text("")
    (ward / "fine.py").write_text("import birthreg.errors\nfrom birthreg.ward import service\n")
    assert domain_violations(ward, "registry") == []
    (ward / "a.py").write_text("import birthreg.registry.client\n")
    (ward / "b.py").write_text("from birthreg import registry\n")
    (ward / "c.py").write_text("def f():\n    from ..registry.service import x\n")
    (ward / "d.py").write_text("from birthreg.registry import api as registry_api\n")
    found = domain_violations(ward, "registry")
    assert sorted({line.split(":")[0] for line in found}) == [
        "birthreg/ward/a.py", "birthreg/ward/b.py", "birthreg/ward/c.py", "birthreg/ward/d.py",
    ]


def test_clock_checker_finds_clock_reads(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import datetime, time\n"
        "from time import time as now\n"
        "from datetime import date, datetime as dt\n"
        "a = datetime.datetime.now()\n"
        "b = time.time()\n"
        "c = date.today()\n"
        "def f(moment):\n"
        "    return moment.replace(tzinfo=None)\n"
    )
    assert [lineno for lineno, _ in clock_reads(sample)] == [2, 4, 5, 6]



def import_graph(package: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports (at any depth of the file). `from a import b`
    counts as importing a.b when b is a module, else as importing a."""
    root = package.parent
    modules = {}
    for path in python_files(package):
        if "migrations" in path.relative_to(package).parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                named = [f"{node.module}.{a.name}" for a in node.names]
                graph[name].update(module for module in named if module in modules)
                if node.module in modules and any(m not in modules for m in named):
                    graph[name].add(node.module)
    return graph


def test_birthreg_has_no_import_circle() -> None:
    """No module imports one that (directly or not) imports it back: the imports form layers,
    which `graphlib` can order (its CycleError names the circle)."""
    graphlib.TopologicalSorter(import_graph(ROOT / "birthreg")).prepare()


def test_the_circle_check_finds_a_circle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (package / "b.py").write_text("from pkg import a\n")
    (package / "c.py").write_text("from pkg.a import f\n")
    graph = import_graph(package)
    assert graph["pkg.c"] == {"pkg.a"}
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(graph).prepare()
