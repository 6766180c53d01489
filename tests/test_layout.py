"""The house reads as its stages: every import of the project's own modules points from a later
stage to an earlier one, and no group of modules imports itself round in a cycle.

Imports are read with `ast` (nothing is executed), wherever they stand: at the top, inside a
function, under `if TYPE_CHECKING:`. `from pkg import name` counts as an import of the module
`pkg.name` when there is one (a package's face importing its modules is not a cycle with them).
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_ROOTS = {"reactorc": ROOT / "reactorc", "reactor": ROOT / "runtime"}

STAGES: tuple[tuple[str, ...], ...] = (
    ("reactorc", "reactorc.diagnostics"),
    ("reactorc.parse",),
    ("reactorc.plan",),
    ("reactorc.analysis",),
    ("reactorc.report",),
    ("reactorc.rewrite",),
    ("reactorc.render", "reactorc.templates"),
    ("reactorc.write",),
    ("reactorc.convert",),
    ("reactorc.validate",),
    ("reactorc.check",),
    ("reactorc.cli",),
)
"""The compiler's stages in data-flow order; a module is in the stage of its longest listed
prefix. A module may import its own stage (cycles are checked separately) or an earlier one."""

CLIS = ("reactorc.cli", "reactor.cli")
RAY_PACKAGE = "reactor.scale"


def module_files() -> dict[str, Path]:
    """Every module of the project: dotted name -> file."""
    found: dict[str, Path] = {}
    for top, folder in PACKAGE_ROOTS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((top, *parts))] = path
    return found


def imports_of(name: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The modules (of `known`, or anything else by its dotted name) that `source` imports."""
    out: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports (others dropped)."""
    files = module_files()
    known = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = imports_of(name, path.read_text(encoding="utf-8"), path.stem == "__init__", known)
        graph[name] = {t for t in targets if t in known and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def stage_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for rank, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def backward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points the wrong way, as 'a -> b (why)'."""
    problems: list[str] = []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if b in CLIS:
                problems.append(f"{a} -> {b} (nothing imports a CLI)")
            elif a.startswith("reactor.") or a == "reactor":
                if b.split(".")[0] == "reactorc":
                    problems.append(f"{a} -> {b} (the runtime never imports the compiler)")
            else:
                rank_a, rank_b = stage_of(a), stage_of(b)
                if rank_a is not None and rank_b is not None and rank_b > rank_a:
                    problems.append(f"{a} -> {b} (a stage imports a later stage)")
    return problems


def third_party_imports(files: dict[str, Path], top: str) -> dict[str, set[str]]:
    """Module -> modules outside the project whose top-level name is `top` that it imports."""
    found: dict[str, set[str]] = {}
    for name, path in files.items():
        names = imports_of(name, path.read_text(encoding="utf-8"), path.stem == "__init__", set())
        hits = {n for n in names if n.split(".")[0] == top}
        if hits:
            found[name] = hits
    return found


def _show(items: Iterable[object]) -> str:
    return "\n".join(f"  {item}" for item in items)


# ---- the project itself


def test_no_module_of_the_project_imports_itself_round_in_a_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + _show(" <-> ".join(group) for group in found)


def test_every_import_points_to_an_earlier_stage_and_nothing_imports_a_cli() -> None:
    found = backward_imports(import_graph())
    assert not found, "backward imports:\n" + _show(found)


def test_every_compiler_module_belongs_to_a_stage() -> None:
    unstaged = [m for m in import_graph() if m.startswith("reactorc") and stage_of(m) is None]
    assert not unstaged, "modules in no stage (add them to STAGES):\n" + _show(unstaged)


def test_ray_is_imported_only_by_the_scale_package() -> None:
    found = third_party_imports(module_files(), "ray")
    outside = {m: n for m, n in found.items() if not m.startswith(RAY_PACKAGE)}
    assert found, "the scale package imports ray; the walk found no import of it at all"
    assert not outside, f"ray imported outside {RAY_PACKAGE}: {outside}"


def test_no_torch_import_in_the_runtime_or_the_compiler() -> None:
    assert third_party_imports(module_files(), "torch") == {}


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    packages = {m for m, p in module_files().items() if p.name == "__init__.py"}
    assert packages - listed == set(), "add these to [tool.setuptools] packages"


def test_the_stage_packages_have_a_small_face() -> None:
    """Each stage package's __init__ is what other stages import, not where its logic lives."""
    for package in ("analysis", "rewrite", "validate"):
        init = ROOT / "reactorc" / package / "__init__.py"
        lines = init.read_text(encoding="utf-8").count("\n")
        assert lines <= 80, f"reactorc/{package}/__init__.py has {lines} lines"
    assert (ROOT / "runtime" / "scale" / "__init__.py").read_text().count("\n") <= 60
    flat = sorted(p.name for p in (ROOT / "reactorc").glob("*.py"))
    prefixed = [n for n in flat if n.startswith(("validate_", "rewrite_", "_stream"))]
    assert not prefixed, f"stage files outside their package: {prefixed}"
    assert not list((ROOT / "runtime").glob("_scale*.py"))


# ---- the checks themselves catch what they are for


def test_the_cycle_finder_names_every_module_of_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"x": {"y"}, "y": set()}) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"reactorc.parse": {"reactorc.render"}}, "a stage imports a later stage"),
        ({"reactorc.check": {"reactorc.cli"}}, "nothing imports a CLI"),
        ({"reactor._server": {"reactor.cli"}}, "nothing imports a CLI"),
        ({"reactor._server": {"reactorc.plan"}}, "the runtime never imports the compiler"),
        ({"reactorc.analysis.fields": {"reactorc.rewrite.names"}}, "a later stage"),
    ],
)
def test_a_backward_import_is_reported_with_both_module_names(
    graph: dict[str, set[str]], expected: str
) -> None:
    (problem,) = backward_imports(graph)
    a, b = next(iter(graph.items()))
    assert problem.startswith(f"{a} -> {next(iter(b))}") and expected in problem


def test_forward_imports_are_fine() -> None:
    graph = {
        "reactorc.cli": {"reactorc.check", "reactorc.analysis"},
        "reactorc.render": {"reactorc.rewrite", "reactorc.plan"},
        "reactorc.validate.run": {"reactor._runner", "reactorc.render"},
    }
    assert backward_imports(graph) == []


def test_relative_and_submodule_imports_resolve_to_modules() -> None:
    known = {"p", "p.a", "p.b", "p.sub", "p.sub.c", "p.sub.d"}
    source = (
        "from . import d\n"
        "from .d import thing\n"
        "from ..a import x\n"
        "import p.b\n"
        "def f():\n"
        "    from p import sub\n"
    )
    assert imports_of("p.sub.c", source, False, known) == {"p.sub.d", "p.a", "p.b", "p.sub"}
    assert imports_of("p", "from . import a\nfrom .sub import c\n", True, known) == {
        "p.a",
        "p.sub.c",
    }
