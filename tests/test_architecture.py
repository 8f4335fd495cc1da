"""The house: the package's import graph keeps the one-way rule (DESIGN.md, docs/ARCHITECTURE.md).

Read from the source with ``ast`` (nothing is imported), every import counts,
also those inside functions and under ``TYPE_CHECKING``:

1. No import cycles among the package's modules. Edges to and from an
   ``__init__`` are left out (a package re-exporting its modules is not a
   cycle); every strongly connected component of the rest must be one module.
2. No stage imports a stage to its right (``FORBIDDEN``). The stages, left
   to right: ``io`` -> ``measure`` -> ``models`` -> ``report`` -> ``cli``, with
   ``engine`` beneath ``measure`` and ``models``, ``plots`` and ``privacy``
   beside them, the data model (``schema``, ``instruments``, ``dataset``)
   beneath the stages and the foundation (``_format``, ``_xlsx``, ``_beside``,
   ``errors``, ``_results``) beneath everything.
3. No private name (``_x``) imported from a module of another subpackage
   (``from ..measure.reliability import _school_designs``), and no private
   module of another subpackage imported at all (``from ..io import _common``).
   The foundation (``_format``, ``_results``, ``errors``) is exempt.
4. Every privacy floor is a number in ``privacy/floors.py`` only.

Known violations
----------------
Work in progress elsewhere (issue #12) still breaks some rules on ``main``.
Each one is listed in ``KNOWN`` below and has its own test marked
``xfail(strict=True)``: while the violation exists the test fails as expected;
the day it is fixed the test passes, ``strict`` turns that into a failure, and
whoever fixed it must delete its line from ``KNOWN`` (so the list cannot go
stale and the rule cannot silently stop being checked). A violation that is
not listed fails ``test_no_new_violations`` at once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "undervisning_analys"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

FOUNDATION = frozenset({"_format", "_xlsx", "_beside", "errors", "_results"})
"""Modules every layer may import, also their private names."""

_STAGES = frozenset({"io", "engine", "measure", "models", "plots", "privacy", "report", "cli",
                     "synth", "sample"})
FORBIDDEN: dict[str, frozenset[str]] = {
    # the foundation imports nothing of the package but itself
    "_format": frozenset({"*"}),
    "_results": frozenset({"*"}),
    "_xlsx": frozenset({"*"}),
    "_beside": frozenset({"*"}),
    "errors": frozenset({"*"}),
    # the data model beneath the stages
    "schema": _STAGES | {"dataset", "instruments"},
    "instruments": _STAGES | {"dataset"},
    "dataset": _STAGES,
    # the stages, left to right
    "io": frozenset({"engine", "measure", "models", "plots", "report", "cli"}),
    "engine": frozenset({"io", "measure", "models", "plots", "privacy", "report", "cli",
                         "synth", "sample"}),
    "measure": frozenset({"models", "report", "cli"}),
    "models": frozenset({"report", "cli"}),
    "plots": frozenset({"io", "engine", "measure", "models", "report", "cli"}),
    "report": frozenset({"cli"}),
    "privacy": frozenset({"io", "engine", "measure", "models", "plots", "report", "cli",
                          "synth", "sample"}),
}
"""Subpackage (or top-level module) -> what it may not import (``*``: anything in the
package but the foundation). ``io`` may not know ``engine`` either (nothing in ``io``
fits a model); ``measure`` and ``models`` may import ``plots`` (a result's ``plot()``
draws with it), ``plots`` knows none of them."""

KNOWN: dict[str, list[str]] = {
    "cycle": [],
    "stage": [],
    # published by other work while issue #12 was under way (not the model's owner's);
    # delete each line when its test XPASSes.
    "private": [],
    "floor": [],
}


# --------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------
@cache
def modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = (PACKAGE, *p.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def is_init(module: str) -> bool:
    return modules()[module].name == "__init__.py"


def sub(module: str) -> str:
    """The subpackage or top-level module: ``undervisning_analys.measure.index`` -> ``measure``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def resolve(name: str) -> str | None:
    """The package module a dotted name lives in (``a.b.func`` -> ``a.b``)."""
    mods = modules()
    while name not in mods and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in mods else None


def imports(module: str) -> Iterator[tuple[str, str | None]]:
    """(target module, imported name or None for ``import x``) for every import in ``module``."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
                    target = resolve(a.name)
                    if target is not None:
                        yield target, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
                if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
                    continue
            for a in node.names:
                target = resolve(f"{base}.{a.name}") or resolve(base)
                if target is not None:
                    yield target, a.name


@cache
def edges() -> dict[str, frozenset[tuple[str, str | None]]]:
    return {m: frozenset((t, n) for t, n in imports(m) if t != m) for m in modules()}


# --------------------------------------------------------------------------
# The three rules
# --------------------------------------------------------------------------
def cycles() -> set[str]:
    """Strongly connected components (Tarjan) of more than one module, without __init__ edges."""
    graph = {m: sorted({t for t, _ in es if not is_init(t)}) for m, es in edges().items()
             if not is_init(m)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: set[str] = set()
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                found.add(" <-> ".join(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def stage_violations() -> set[str]:
    out = set()
    for m, es in edges().items():
        forbidden = FORBIDDEN.get(sub(m), frozenset())
        for t, _ in es:
            st = sub(t)
            if st == sub(m) or st in FOUNDATION or st == "":
                continue
            if "*" in forbidden or st in forbidden:
                out.add(f"{m} -> {t}")
    return out


def private_violations() -> set[str]:
    out = set()
    for m, es in edges().items():
        for t, name in es:
            if sub(t) == sub(m) or sub(t) in FOUNDATION:
                continue
            private_module = any(p.startswith("_") and not p.startswith("__")
                                 for p in t.split(".")[1:])
            if private_module:
                out.add(f"{m} imports the private module {t}")
            elif name is not None and name.startswith("_") and not name.startswith("__") \
                    and not is_init(t):
                out.add(f"{m} takes {name} from {t}")
    return out


FLOOR_NAMES = {"min_pupils", "min_teachers", "min_obs", "min_observers", "min_observers_per_role"}


def floor_violations() -> set[str]:
    """A floor typed out again: a ``MIN_PUPILS``-like constant or a ``min_pupils=10`` default
    is a number only in ``privacy/floors.py``; elsewhere it is imported."""
    typed = []
    for m, path in modules().items():
        if m == f"{PACKAGE}.privacy.floors":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
                if any(n.lower() in FLOOR_NAMES for n in names) \
                        and isinstance(node.value, ast.Constant):
                    typed.append(f"{m}: {names[0]} = {node.value.value!r}")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                pos = a.posonlyargs + a.args
                pairs = list(zip(pos[len(pos) - len(a.defaults):], a.defaults))
                pairs += [(k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]
                typed += [f"{m}.{node.name}: {k.arg}={d.value!r}" for k, d in pairs
                          if k.arg in FLOOR_NAMES and isinstance(d, ast.Constant)]
    return set(typed)


CHECKS = {"cycle": cycles, "stage": stage_violations, "private": private_violations,
          "floor": floor_violations}


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------
def test_the_graph_is_read():
    """The reader finds the package's modules and the imports between them."""
    mods = modules()
    assert f"{PACKAGE}.report.context" in mods and f"{PACKAGE}.privacy" in mods
    es = edges()
    assert (f"{PACKAGE}.privacy.suppression", None) not in es[f"{PACKAGE}.report.context"]
    assert any(t == f"{PACKAGE}.privacy" for t, _ in es[f"{PACKAGE}.report.context"])
    assert any(t == f"{PACKAGE}._format" for t, _ in es[f"{PACKAGE}.plots"])


def test_the_checks_catch_what_they_should(monkeypatch):
    """Each rule flags a made-up violation (so an empty result means something)."""
    fake = {
        f"{PACKAGE}.io.a": frozenset({(f"{PACKAGE}.models.b", "fit"),
                                      (f"{PACKAGE}.measure.c", "_private")}),
        f"{PACKAGE}.models.b": frozenset({(f"{PACKAGE}.io.a", "read"),
                                          (f"{PACKAGE}.io._hidden", "x")}),
        f"{PACKAGE}.measure.c": frozenset({(f"{PACKAGE}._format", "_is_missing")}),
    }
    paths = {m: Path(m.replace(".", "/") + ".py") for m in fake}
    paths[f"{PACKAGE}.io._hidden"] = Path("io/_hidden.py")
    paths[f"{PACKAGE}._format"] = Path("_format.py")
    monkeypatch.setitem(globals(), "edges", lambda: fake)
    monkeypatch.setitem(globals(), "modules", lambda: paths)
    assert cycles() == {f"{PACKAGE}.io.a <-> {PACKAGE}.models.b"}
    assert stage_violations() == {f"{PACKAGE}.io.a -> {PACKAGE}.models.b",
                                  f"{PACKAGE}.io.a -> {PACKAGE}.measure.c"}
    assert private_violations() == {
        f"{PACKAGE}.io.a takes _private from {PACKAGE}.measure.c",
        f"{PACKAGE}.models.b imports the private module {PACKAGE}.io._hidden"}


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_no_new_violations(check):
    new = sorted(CHECKS[check]() - set(KNOWN[check]))
    assert not new, f"{check}: " + "; ".join(new)


@pytest.mark.parametrize("check, violation", [
    pytest.param(check, v, id=f"{check}:{v.replace(PACKAGE + '.', '')}",
                 marks=pytest.mark.xfail(strict=True, reason="known violation, being fixed "
                                         "in issue #12; delete it from KNOWN when this XPASSes"))
    for check, vs in sorted(KNOWN.items()) for v in vs])
def test_known_violation_is_fixed(check, violation):
    assert violation not in CHECKS[check]()

