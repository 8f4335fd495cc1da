"""R's design matrices for :func:`fit_mixed`: lme4's formulas read as R reads them.

``fit_mixed`` takes the formula a researcher types into lme4. This module
splits it as lme4 does (the fixed part, the bar terms ``(lhs | g)`` and
``(lhs || g)``, ``offset()`` terms) and builds every matrix with the formula
library *formulaic* (Wilkinson–Rogers formulas, its transforms and the state it
keeps to code new data the same way), with three of R's rules that formulaic
does not follow by itself (measured against ``model.matrix`` in
``tests/reference/formula_reference.R``):

1. **Which columns a factor gets in a term** (R's ``TermCode`` in
   ``src/library/stats/src/model.c``): a factor in a term is coded by contrasts
   when the term without that factor is among the *preceding* terms (the empty
   term counts when the model has an intercept), else by one indicator per
   level. Without an intercept, the first factor of the first term holding a
   factor gets every level. So ``y ~ sex:x`` gives ``sexF:x`` and ``sexM:x``,
   and ``y ~ f:sex`` (with an intercept) gives every level combination – a
   rank-deficient matrix, refused with a Swedish message as any other.
   formulaic instead picks a structurally full-rank coding (``y ~ f:sex``
   gives ``sexM`` plus ``f``-contrasts within each ``sex``), a different model.
2. **Variable order inside an interaction**: R names and orders an interaction
   by the order in which its variables first appear in the formula
   (``y ~ x + f + f:x`` gives ``x:fb``), formulaic as written (``f[T.b]:x``).
3. **Names**: R's ``sexM``, ``girlTRUE``, ``poly(x, 2)1``, ``C(f, contr.sum)1``,
   ``(Intercept)`` instead of formulaic's ``sex[T.M]``, ``girl``, ``poly(x, 2)[1]``,
   ``C(f, contr.sum)[S.a]``, ``Intercept``. Logical columns are coded as a factor
   with levels ``FALSE``, ``TRUE`` as R does.

Everything else – term expansion (``*``, ``:``, ``-``, ``0 +``, ``- 1``), order
of terms by degree, treatment and sum contrasts, ``I()``, ``log``, ``exp``,
``sqrt``, ``poly`` (orthogonal, equal to R's), ``scale``, ``C()`` – is formulaic's,
checked against R's values in ``tests/test_formula_r.py``.

Factor levels: a pandas ``Categorical`` keeps its categories' order (R's
``factor(levels = ...)``); any other column is sorted by Python's order of
code points. That is R's order in the C locale (``LC_COLLATE=C``); R in a
Swedish or English locale sorts letters case-insensitively and å, ä, ö as the
language does (``"a" < "B"`` there, ``"B" < "a"`` here; ``"å" < "ä" < "ö"``
by code point gives ``"ä" < "å" < "ö"`` here). Set the order with a
``Categorical`` where it matters.

lme4's expansions of the bar terms: ``(lhs || g)`` becomes ``(1 | g)`` plus
``(0 + t | g)`` for every term ``t`` of ``lhs`` (a factor's levels stay one
correlated block), and ``(lhs | a/b)`` becomes ``(lhs | a) + (lhs | b:a)``;
a grouping ``a:b`` is the interaction of the two columns.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelError

__all__ = ["BarTerm", "Design", "ParsedFormula", "build_design", "parse_formula"]

_EXAMPLE = 'Exempel: "poang ~ tid + kon + (1 + tid | skola)"'


# --------------------------------------------------------------------------- #
# splitting the lme4 formula
# --------------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True)
class BarTerm:
    """One random-effects term after lme4's expansions: ``(lhs | grouping)``."""

    lhs: str
    grouping: tuple[str, ...]  # data columns; the group is their interaction

    @property
    def group(self) -> str:
        """The grouping factor's name as lme4 writes it (``childid:schoolid``)."""
        return ":".join(self.grouping)


@dataclasses.dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split as lme4 splits it."""

    formula: str
    response: str
    fixed: str  # the fixed part's right-hand side, without bars and offsets
    offsets: tuple[str, ...]  # expressions inside offset()
    bars: tuple[BarTerm, ...]


def _split_top(text: str, seps: str = "+-") -> list[tuple[str, str]]:
    """Split at top-level ``+``/``-`` (outside parentheses); (sign, piece) pairs."""
    out: list[tuple[str, str]] = []
    depth, start, sign = 0, 0, "+"
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("en högerparentes saknar sin vänsterparentes")
        elif depth == 0 and ch in seps:
            # '-' directly after an operator is a unary minus, not a term separator
            before = text[:i].rstrip()
            if ch == "-" and (not before or before[-1] in "+-*/:^(,~"):
                continue
            out.append((sign, text[start:i].strip()))
            sign, start = ch, i + 1
    if depth != 0:
        raise ValueError("parenteserna är inte balanserade")
    out.append((sign, text[start:].strip()))
    return out


def _outer_parens(piece: str) -> str | None:
    """The inside of ``( ... )`` when the parentheses enclose the whole piece."""
    if not (piece.startswith("(") and piece.endswith(")")):
        return None
    depth = 0
    for i, ch in enumerate(piece):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(piece) - 1:
            return None
    return piece[1:-1].strip()


def _top_bar(inner: str) -> tuple[str, str, bool] | None:
    """``lhs | g`` or ``lhs || g`` at the top level of ``inner``."""
    depth = 0
    for i, ch in enumerate(inner):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and ch == "|":
            double = inner[i + 1: i + 2] == "|"
            rest = inner[i + 2:] if double else inner[i + 1:]
            return inner[:i].strip(), rest.strip(), double
    return None


#: A column name a formula can use bare: letters (å, ä, ö too), digits, ``_`` and ``.``.
_NAME = re.compile(r"^(?:[^\W\d]|\.)[\w.]*$")


def _groupings(text: str, formula: str) -> list[tuple[str, ...]]:
    """lme4's grouping: ``a`` / ``a:b`` / ``a/b`` (= ``a`` and ``b:a``)."""
    text = " ".join(text.split())
    if "/" in text:
        parts = [p.strip() for p in text.split("/")]
        groups = []
        for k in range(1, len(parts) + 1):
            # lme4's expandSlash names the nested factor innermost first: b:a
            cols = [c.strip() for p in reversed(parts[:k]) for c in p.split(":")]
            groups.append(tuple(cols))
    else:
        groups = [tuple(c.strip() for c in text.split(":"))]
    for g in groups:
        for c in g:
            if not _NAME.match(c):
                raise ModelError(
                    f"Grupperingen {text!r} i formeln {formula!r} kunde inte tolkas: en "
                    f"grupperingsfaktor måste vara en kolumn i data, men {c!r} är det inte",
                    hint=("Skapa grupperingen som en egen kolumn i data och skriv "
                          "(1 | kolumn); kapsling skrivs (1 | skola/larare)"))
    return groups


@functools.lru_cache(maxsize=512)
def terms_of(text: str) -> tuple[tuple[str, ...], ...]:
    """The terms of a right-hand side as written (formulaic's parse, cached): one tuple
    of factor expressions per term, ``()`` for the intercept."""
    import formulaic

    parsed = formulaic.Formula(text, _ordering="none")
    return tuple(tuple(f.expr for f in t.factors if f.expr != "1") for t in parsed)


def has_intercept(text: str) -> bool:
    """Whether a right-hand side keeps the intercept (``0 +`` / ``- 1`` remove it)."""
    return any(not t for t in terms_of(text))


def _python_powers(text: str) -> str:
    """R's ``^`` inside a function call (``I(x^2)``) is arithmetic: Python's ``**``.
    Outside calls ``(a + b)^2`` is the formula operator and stays."""
    out, stack = [], []
    for i, ch in enumerate(text):
        if ch == "(":
            before = text[:i].rstrip()
            stack.append(bool(before) and (before[-1].isalnum() or before[-1] in "_."))
        elif ch == ")" and stack:
            stack.pop()
        elif ch == "^" and any(stack):
            out.append("**")
            continue
        out.append(ch)
    return "".join(out)


def _expand_double(lhs: str) -> list[str]:
    """lme4's ``expandDoubleVerts``: ``(lhs || g)`` -> ``(1|g)`` + ``(0 + t|g)`` per term."""
    terms = [t for t in terms_of(lhs) if t]
    out = ["1"] if has_intercept(lhs) else []
    out += [f"0 + {':'.join(t)}" for t in terms]
    return out


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part, offsets and bar terms."""
    if formula.count("~") != 1:
        raise ModelError(
            f"Formeln {formula!r} måste ha exakt ett ~ med utfallet till vänster",
            hint=_EXAMPLE)
    response, rhs = (_python_powers(s.strip()) for s in formula.split("~"))
    if not response:
        raise ModelError(f"Formeln {formula!r} saknar utfall till vänster om ~", hint=_EXAMPLE)
    try:
        pieces = _split_top(rhs)
    except ValueError as exc:
        raise ModelError(f"Formeln {formula!r} kunde inte tolkas: {exc}",
                         hint=_EXAMPLE) from None
    fixed: list[str] = []
    offsets: list[str] = []
    bars: list[BarTerm] = []
    for sign, piece in pieces:
        if not piece:
            if sign == "-" or len(pieces) > 1:
                raise ModelError(f"Formeln {formula!r} har en tom term (två tecken i rad?)",
                                 hint=_EXAMPLE)
            continue
        inner = _outer_parens(piece)
        bar = _top_bar(inner) if inner is not None else None
        if bar is not None:
            if sign == "-":
                raise ModelError(f"Slumpeffekttermen {piece!r} kan inte dras ifrån i formeln",
                                 hint=_EXAMPLE)
            lhs, grouping, double = bar
            lhs = lhs or "1"
            try:
                lhs_parts = _expand_double(lhs) if double else [lhs]
            except Exception as exc:  # formulaic's syntax errors
                raise ModelError(f"Slumpeffekttermen {piece!r} kunde inte tolkas ({exc})",
                                 hint=_EXAMPLE) from None
            for g in _groupings(grouping, formula):
                bars.extend(BarTerm(part, g) for part in lhs_parts)
            continue
        m = re.fullmatch(r"offset\((.*)\)", piece)
        if m and _outer_parens(piece[len("offset"):]) is not None:
            if sign == "-":
                raise ModelError(f"offset() kan inte dras ifrån i formeln {formula!r}",
                                 hint="Skriv + offset(kolumn)")
            offsets.append(m.group(1).strip())
            continue
        fixed.append(piece if sign == "+" else f"- {piece}")
    text = " + ".join(p for p in fixed if not p.startswith("- "))
    minus = " ".join(p for p in fixed if p.startswith("- "))
    fixed_rhs = (text or "1") + (f" {minus}" if minus else "")
    if not bars:
        raise ModelError(
            f"Formeln {formula!r} saknar slumpeffekter",
            hint=("Lägg till minst en term som (1 | skola); för en modell utan slumpeffekter, "
                  "använd vanlig regression"))
    return ParsedFormula(formula=formula, response=response, fixed=fixed_rhs,
                         offsets=tuple(offsets), bars=tuple(bars))


# --------------------------------------------------------------------------- #
# R's model.matrix through formulaic
# --------------------------------------------------------------------------- #
def _factor(x: Any) -> Any:
    """R's ``factor()``: a categorical whose levels are the sorted distinct values."""
    from formulaic.materializers import FactorValues

    if isinstance(x, pd.Series) and isinstance(x.dtype, pd.CategoricalDtype):
        return FactorValues(x, kind="categorical")
    return FactorValues(pd.Series(pd.Categorical(x), index=getattr(x, "index", None)),
                        kind="categorical")


#: Functions a formula may call (besides formulaic's own: I, C, poly, scale, center).
_CONTEXT: dict[str, Any] = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs,
                            "log2": np.log2, "log10": np.log10, "factor": _factor,
                            "as_factor": _factor}

_R_CONTRASTS = {"contr.treatment": "treatment", "treatment": "treatment",
                "contr.sum": "sum", "sum": "sum"}


def _materializer_class() -> type:
    """A formulaic materializer with R's rule for which columns a factor gets."""
    global _MATERIALIZER
    if _MATERIALIZER is not None:
        return _MATERIALIZER
    from formulaic.materializers import PandasMaterializer
    from formulaic.materializers.types import ScopedFactor, ScopedTerm
    from formulaic.parser.types import Factor
    from interface_meta import override

    class RMaterializer(PandasMaterializer):  # type: ignore[misc]
        REGISTER_NAME = "undervisning_analys_r"
        REGISTER_INPUTS = ()
        REGISTER_PRECEDENCE = 0

        @override  # type: ignore[untyped-decorator,misc]
        def _get_scoped_terms(self, terms: Any, ensure_full_rank: bool = True) -> Any:
            terms = list(terms)
            kinds: list[list[tuple[Any, bool]]] = []  # per term: (evaluated factor, categorical)
            for term in terms:
                evaled = [self.factor_cache[f.expr] for f in term.factors
                          if self.factor_cache[f.expr].values.__wrapped__ is not None]
                kinds.append([(e, e.metadata.kind is Factor.Kind.CATEGORICAL) for e in evaled])
            consts = [[e for e, _ in k if e.metadata.kind is Factor.Kind.CONSTANT] for k in kinds]
            intercept = any(
                k and all(e.metadata.kind is Factor.Kind.CONSTANT for e, _ in k)
                for k in kinds)
            sets = [frozenset(e.expr for e, _ in k if e.metadata.kind is not Factor.Kind.CONSTANT)
                    for k in kinds]
            forced: tuple[int, str] | None = None
            if not intercept:  # R: the first factor of the first term with a factor: all levels
                for j, k in enumerate(kinds):
                    cats = [e.expr for e, is_cat in k if is_cat]
                    if cats:
                        forced = (j, cats[0])
                        break
            for j, (term, k) in enumerate(zip(terms, kinds)):
                factors = [(e, c) for e, c in k if e.metadata.kind is not Factor.Kind.CONSTANT]
                if not k:
                    yield term, []
                    continue
                scale = 1
                for e in consts[j]:
                    scale = scale * e.values
                scoped = []
                for e, is_cat in factors:
                    reduced = False
                    if is_cat and forced != (j, e.expr):
                        rest = sets[j] - {e.expr}
                        reduced = (not rest) or any(rest <= sets[i] for i in range(j))
                    scoped.append(ScopedFactor(e, reduced=reduced))
                yield term, [ScopedTerm(factors=scoped, scale=scale)]

    _MATERIALIZER = RMaterializer
    return RMaterializer


_MATERIALIZER: type | None = None

_LEVEL_NAME = re.compile(r"\[(?:(?P<kind>[A-Za-z]+)\.)?(?P<level>.*)\]$")


def _r_expr(expr: str) -> str:
    """formulaic's text of an expression as R deparses it: ``x ** 2`` -> ``x^2``,
    ``x / 4`` -> ``x/4`` (R writes spaces around ``+ - *`` only, as formulaic does)."""
    return expr.replace(" ** ", "^").replace("**", "^").replace(" / ", "/")


class _Namer:
    """formulaic's column names -> R's."""

    def __init__(self, aliases: Mapping[str, str]):
        self.aliases = dict(aliases)  # factor expr given to formulaic -> R's variable text

    def part(self, part: str, spec: Any) -> str:
        if part == "Intercept":
            return "(Intercept)"
        m = re.match(r"^(?P<expr>.*?)(?P<lev>\[[^\[\]]*\])?$", part)
        assert m is not None
        expr, lev = m["expr"], m["lev"]
        rname = self.aliases.get(expr, _r_expr(expr))
        if not lev:
            return rname
        lm = _LEVEL_NAME.match(lev)
        assert lm is not None
        kind, level = lm["kind"], lm["level"]
        if kind in (None, "T"):
            return f"{rname}{level}"
        # numbered contrasts (sum): R numbers the columns 1..k-1
        levels = self._levels(expr, spec)
        if levels is not None and level in levels:
            return f"{rname}{levels.index(level) + 1}"
        return f"{rname}{level}"

    @staticmethod
    def _levels(expr: str, spec: Any) -> list[str] | None:
        state = spec.encoder_state.get(expr) if spec is not None else None
        if not state:
            return None
        levels = state[1].get("categories") if isinstance(state, tuple) else None
        return [str(x) for x in levels] if levels is not None else None

    def __call__(self, name: str, spec: Any = None) -> str:
        return ":".join(self.part(p, spec) for p in _split_colon(name))


def _split_colon(name: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(name):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == ":" and depth == 0:
            out.append(name[start:i])
            start = i + 1
    out.append(name[start:])
    return out


@dataclasses.dataclass
class _Matrix:
    """One model matrix with R's column names and what is needed to code new data."""

    array: np.ndarray  # rows x columns
    names: list[str]  # R's column names
    index: pd.Index
    spec: Any  # formulaic ModelSpec; None for a plain design (see _plain_plan)
    formula: str  # what formulaic was given
    plan: list[_PlainColumn] | None = None
    levels: dict[str, list[Any]] = dataclasses.field(default_factory=dict)  # plan's factors

    @property
    def values(self) -> pd.DataFrame:
        """The matrix as a DataFrame with R's column names."""
        return pd.DataFrame(self.array, index=self.index, columns=self.names)

    def transform(self, data: pd.DataFrame) -> pd.DataFrame:
        if self.plan is not None:
            for col, known in self.levels.items():
                new = [v for v in pd.unique(data[col].dropna()) if v not in set(known)]
                if new:
                    raise ValueError(f"`{col}` har nivån {new[0]!r}, som inte fanns i "
                                     "anpassningen")
            return pd.DataFrame(_plain_matrix(self.plan, data), index=data.index,
                                columns=self.names)
        mm = self.spec.get_model_matrix(data, context=_CONTEXT, na_action="ignore")
        return pd.DataFrame(np.asarray(mm, dtype=float), index=data.index, columns=self.names)


def _rebuild(rhs: str, contrasts: Mapping[str, str],
             order: list[str]) -> tuple[str, dict[str, str]]:
    """The right-hand side for formulaic: R's variable order inside each interaction,
    ``contrasts=`` applied as ``C(f, ...)`` (with R's name kept as an alias)."""
    parsed = terms_of(rhs)
    for t in parsed:
        for e in t:
            if e not in order:
                order.append(e)
    aliases: dict[str, str] = {}
    terms = []
    for t in parsed:
        if not t:
            continue
        exprs = sorted(t, key=order.index)
        coded = []
        for e in exprs:
            kind = contrasts.get(e)
            if kind == "sum":
                new = f"C({e}, contr.sum)"
                aliases[new] = e
                coded.append(new)
            else:
                coded.append(e)
        terms.append(":".join(coded))
    text = ("1" if has_intercept(rhs) else "0") + "".join(f" + {t}" for t in terms)
    return text, aliases


#: One column of a plain design: (R name, numeric columns multiplied, factor column or
#: None, its level) – the fast path's recipe, replayed on new data.
_PlainColumn = tuple[str, tuple[str, ...], str | None, Any]


def _plain_plan(terms: tuple[tuple[str, ...], ...], data: pd.DataFrame,
                contrasts: Mapping[str, str]
                ) -> tuple[list[_PlainColumn], dict[str, list[Any]]] | None:
    """R's columns when every factor of the formula is a data column used as it is:
    numeric columns and their products (``x * z``), and factors (text, categorical,
    logical) as main effects with treatment contrasts. ``None`` for anything else
    (functions, factor interactions, other contrasts): formulaic builds those.

    The common formulas of the package and of researchers take this path; formulaic
    gives the same matrix (checked in tests/test_formula_r.py), several ms slower."""
    kinds: dict[str, bool] = {}  # column -> categorical
    dtypes = data.dtypes
    for t in terms:
        for c in t:
            if not (_NAME.match(c) and c in data.columns):
                return None
            dtype = dtypes[c]
            numeric = (pd.api.types.is_numeric_dtype(dtype)
                       and not pd.api.types.is_bool_dtype(dtype)
                       and not isinstance(dtype, pd.CategoricalDtype))
            if not numeric and (len(t) > 1 or contrasts.get(c, "treatment") != "treatment"):
                return None
            kinds[c] = not numeric
    intercept = any(not t for t in terms)
    ordered = sorted(terms, key=len)  # R: terms by degree, as written within a degree
    plan: list[_PlainColumn] = []
    all_levels: dict[str, list[Any]] = {}
    first_factor = True
    for t in ordered:
        if not t:
            plan.append(("(Intercept)", (), None, None))
        elif kinds[t[0]]:
            col = t[0]
            s = data[col]
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = list(s.cat.categories)
            else:  # the rows are complete (missing values were dropped before)
                levels = sorted(set(s.to_numpy().tolist()))
            all_levels[col] = levels
            # R: contrasts (the first level the reference) unless the model has no
            # intercept and this is its first factor, which gets every level
            keep = levels if (not intercept and first_factor) else levels[1:]
            first_factor = False
            plan += [(f"{col}{lv}", (), col, lv) for lv in keep]
        else:
            plan.append((":".join(t), tuple(t), None, None))
    return plan, all_levels


def _plain_matrix(plan: list[_PlainColumn], data: pd.DataFrame) -> np.ndarray:
    out = np.ones((len(data), len(plan)))
    cache: dict[str, np.ndarray] = {}

    def values(c: str, numeric: bool) -> np.ndarray:
        if c not in cache:
            cache[c] = data[c].to_numpy(dtype=float) if numeric else data[c].to_numpy()
        return cache[c]

    for j, (_, numeric, factor, level) in enumerate(plan):
        if factor is not None:
            out[:, j] = values(factor, False) == level
        else:
            for c in numeric:
                out[:, j] *= values(c, True)
    return out


def _model_matrix(rhs: str, data: pd.DataFrame, contrasts: Mapping[str, str],
                  order: list[str], where: str,
                  plain_path: bool = True) -> _Matrix:
    text, aliases = _rebuild(rhs, contrasts, order)
    plain = _plain_plan(terms_of(text), data, contrasts) if plain_path else None
    if plain is not None:
        plan, levels = plain
        return _Matrix(array=_plain_matrix(plan, data), names=[p[0] for p in plan],
                       index=data.index, spec=None, formula=text, plan=plan, levels=levels)
    cls = _materializer_class()
    try:
        with np.errstate(all="ignore"):  # log(0) etc.: reported by _check_finite
            mm = cls(data, context=_CONTEXT).get_model_matrix(text, na_action="ignore")
    except ModelError:
        raise
    except Exception as exc:  # formulaic's evaluation and syntax errors
        unknown = re.search(r"name '([^']+)' is not defined", str(exc))
        what = (f"funktionen eller kolumnen `{unknown.group(1)}` finns inte" if unknown
                else f"{type(exc).__name__}: {exc}")
        raise ModelError(
            f"{where} kunde inte byggas ur formeln {text!r}: {what}",
            hint=("Kontrollera att varje variabel är en kolumn i data och att funktionerna "
                  "finns: I(), log(), exp(), sqrt(), poly(x, 2), scale(), factor(), C(f, Sum), "
                  "offset()")) from None
    namer = _Namer(aliases)
    names = [namer(str(c), mm.model_spec) for c in mm.columns]
    return _Matrix(array=np.asarray(mm, dtype=float), names=names, index=data.index,
                   spec=mm.model_spec, formula=text)


def required_columns(parsed: ParsedFormula, columns: Sequence[str]) -> tuple[list[str], ...]:
    """(response, fixed, random, grouping) data columns the formula uses."""
    known = set(map(str, columns))

    def variables(text: str) -> list[str]:
        try:
            terms = terms_of(text)
        except Exception as exc:
            raise ModelError(f"Formeln {parsed.formula!r} kunde inte tolkas ({exc})",
                             hint=_EXAMPLE) from None
        names: list[str] = []
        for term in terms:
            for expr in term:
                found = [v for v in _identifiers(expr) if v in known]
                if not found and _NAME.match(expr):
                    found = [expr]  # a missing column: reported by the caller
                names += found
        return list(dict.fromkeys(names))

    response = variables(parsed.response)
    fixed = variables(parsed.fixed) + [v for o in parsed.offsets for v in variables(o)]
    random = [v for b in parsed.bars for v in variables(b.lhs)]
    grouping = [c for b in parsed.bars for c in b.grouping]
    return response, list(dict.fromkeys(fixed)), list(dict.fromkeys(random)), grouping


def _identifiers(expr: str) -> list[str]:
    names = re.findall(r"`([^`]+)`|((?:[^\W\d]|\.)[\w.]*)", expr)
    return [a or b for a, b in names]


@dataclasses.dataclass
class Block:
    """A random-effects term's columns (R names) and its grouping factor."""

    bar: BarTerm
    matrix: _Matrix

    @property
    def names(self) -> list[str]:
        return list(self.matrix.names)


@dataclasses.dataclass
class Design:
    """The matrices of a formula on one data frame, and their input to the engine."""

    parsed: ParsedFormula
    response_name: str
    y: pd.Series
    fixed: _Matrix
    blocks: list[Block]
    offset: np.ndarray | None
    offset_matrices: list[_Matrix]
    engine_formula: str
    engine_frame: pd.DataFrame
    to_r: dict[str, str]  # engine column name -> R name
    to_engine: dict[Any, str]
    columns: list[str]  # the data columns the formula uses

    @property
    def fixed_names(self) -> list[str]:
        return list(self.fixed.names)

    def rename(self, name: str) -> str:
        return self.to_r.get(name, name)

    def new_frame(self, data: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None]:
        """The engine's columns for new data, coded as in the fit."""
        out = pd.DataFrame(index=data.index)
        data, _ = _as_r_types(data, self.columns)
        x = self.fixed.transform(data)
        for r in x.columns:
            if r != "(Intercept)":
                out[self.to_engine[("fixed", r)]] = x[r].to_numpy()
        for k, b in enumerate(self.blocks):
            z = b.matrix.transform(data)
            for r in z.columns:
                if r != "(Intercept)":
                    out[self.to_engine[(k, r)]] = z[r].to_numpy()
            for c in b.bar.grouping:
                if c not in out.columns:
                    out[c] = data[c].to_numpy() if c in data.columns else np.nan
        offset = None
        if self.offset_matrices:
            offset = sum(m.transform(data).iloc[:, 0].to_numpy() for m in self.offset_matrices)
        return out, offset


def _as_r_types(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, set[str]]:
    """Logical columns as factors FALSE/TRUE (R's ``girlTRUE``)."""
    out = frame
    bools = set()
    for c in columns:
        if c in frame.columns and pd.api.types.is_bool_dtype(frame[c]):
            if out is frame:
                out = frame.copy()
            out[c] = pd.Categorical(np.where(frame[c].to_numpy(bool), "TRUE", "FALSE"),
                                    categories=["FALSE", "TRUE"])
            bools.add(c)
    return out, bools


def normalise_contrasts(contrasts: Any) -> dict[str, str]:
    """lme4's ``contrasts = list(f = "contr.sum")`` as ``{"f": "sum"}``."""
    if contrasts is None:
        return {}
    if not isinstance(contrasts, Mapping):
        raise ModelError(
            f"contrasts ska vara en dict från kolumn till kontrast, men är "
            f"{type(contrasts).__name__}",
            hint='Exempel: contrasts={"kon": "contr.sum"}')
    out = {}
    for k, v in contrasts.items():
        kind = _R_CONTRASTS.get(str(v)) if isinstance(v, str) else None
        if kind is None:
            raise ModelError(
                f"Kontrasten {v!r} för `{k}` stöds inte",
                column=str(k),
                hint=('Använd "contr.treatment" (standard; referensnivån är den första, '
                      'välj den med en pandas Categorical) eller "contr.sum"'))
        out[str(k)] = kind
    return out


def build_design(parsed: ParsedFormula, frame: pd.DataFrame,
                 contrasts: Mapping[str, str] | None = None, *,
                 plain_path: bool = True) -> Design:
    """Build every matrix of the formula on ``frame`` (complete rows only).

    ``plain_path=False`` builds every matrix with formulaic, also those the fast path
    builds directly (for the test that both give the same)."""
    contrasts = dict(contrasts or {})
    cols = [c for group in required_columns(parsed, frame.columns) for c in group]
    data, _ = _as_r_types(frame, cols)
    order: list[str] = []
    # the response
    if parsed.response in data.columns:
        y = data[parsed.response]
    else:
        ym = _model_matrix(f"0 + {parsed.response}", data, {}, [], "Utfallet")
        if ym.array.shape[1] != 1:
            raise ModelError(
                f"Utfallet {parsed.response!r} måste vara en numerisk variabel",
                hint="Skriv utfallet som en kolumn eller en funktion av en kolumn, t.ex. log(y)")
        y = pd.Series(ym.array[:, 0], index=data.index, name=parsed.response)
    fixed = _model_matrix(parsed.fixed, data, contrasts, order,
                          "De fasta effekternas designmatris", plain_path)
    blocks = []
    for bar in parsed.bars:
        m = _model_matrix(bar.lhs, data, contrasts, [],
                          f"Slumpeffekttermen ({bar.lhs} | {bar.group})", plain_path)
        if m.array.shape[1] == 0:
            raise ModelError(f"Slumpeffekttermen ({bar.lhs} | {bar.group}) har inga kolumner",
                             hint="Skriv t.ex. (1 | skola) eller (1 + tid | skola)")
        blocks.append(Block(bar, m))
    offset_matrices = [_model_matrix(f"0 + {o}", data, {}, [], f"offset({o})")
                       for o in parsed.offsets]
    offset = None
    if offset_matrices:
        offset = np.sum([m.array[:, 0] for m in offset_matrices], axis=0)
    yv = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(yv).all():
        bad = ~np.isfinite(yv)
        raise ModelError(
            f"Utfallet `{parsed.response}` har {int(bad.sum())} oändliga eller odefinierade "
            f"värden (första på radindex {y.index[bad][0]}), t.ex. log av noll eller ett "
            "negativt tal",
            column=parsed.response, hint="Ändra transformationen eller uteslut raderna först")
    _check_finite(fixed, blocks, offset, parsed)
    return _engine_inputs(parsed, y, fixed, blocks, offset, offset_matrices, frame, cols)


def _check_finite(x: _Matrix, blocks: list[Block], offset: np.ndarray | None,
                  parsed: ParsedFormula) -> None:
    for m in [x, *(b.matrix for b in blocks)]:
        bad = ~np.isfinite(m.array)
        if bad.any():
            j = int(np.flatnonzero(bad.any(axis=0))[0])
            col = m.names[j]
            first = m.index[bad[:, j]][0]
            raise ModelError(
                f"Designkolumnen `{col}` innehåller {int(bad[:, j].sum())} oändliga eller "
                f"odefinierade värden (första på radindex {first}), t.ex. log av noll "
                "eller ett negativt tal",
                column=col, hint="Ändra transformationen eller uteslut raderna först")
    if offset is not None and not np.isfinite(offset).all():
        raise ModelError("offset() innehåller oändliga eller odefinierade värden",
                         hint="Kontrollera kolumnen i offset()")


def _engine_inputs(parsed: ParsedFormula, y: pd.Series, fixed: _Matrix, blocks: list[Block],
                   offset: np.ndarray | None, offset_matrices: list[_Matrix],
                   frame: pd.DataFrame, columns: list[str]) -> Design:
    """The engine's frame and formula: one numeric column per design column."""
    taken = set(map(str, frame.columns))
    grouping = list(dict.fromkeys(c for b in blocks for c in b.bar.grouping))
    out: dict[str, Any] = {}
    to_r: dict[str, str] = {}
    to_engine: dict[Any, str] = {}
    counter = [0]

    def column(key: Any, rname: str, values: np.ndarray) -> str:
        # a plain numeric column keeps its own name (the engine then sees what it saw before)
        if (_NAME.match(rname) and "." not in rname and rname in frame.columns
                and rname not in grouping
                and pd.api.types.is_numeric_dtype(frame[rname])
                and not pd.api.types.is_bool_dtype(frame[rname])
                and np.array_equal(frame[rname].to_numpy(float), values)):
            name = rname
        else:
            while True:
                name = f"ua_col{counter[0]}"
                counter[0] += 1
                if name not in taken:
                    break
        out[name] = values
        to_r[name] = rname
        to_engine[key] = name
        return name

    yname = "ua_response" if parsed.response not in frame.columns else parsed.response
    out[yname] = y.to_numpy(dtype=float) if pd.api.types.is_numeric_dtype(y) else y.to_numpy()
    to_r[yname] = parsed.response
    x_names = [column(("fixed", r), r, fixed.array[:, j]) for j, r in enumerate(fixed.names)
               if r != "(Intercept)"]
    rhs = [("1" if "(Intercept)" in fixed.names else "0"), *x_names]
    for k, b in enumerate(blocks):
        z_names = [column((k, r), r, b.matrix.array[:, j])
                   for j, r in enumerate(b.matrix.names) if r != "(Intercept)"]
        lhs = " + ".join([("1" if "(Intercept)" in b.matrix.names else "0"), *z_names])
        rhs.append(f"({lhs} | {b.bar.group})")
    for c in grouping:  # as they are (the engine builds the groups)
        out[c] = frame[c].array
    engine_frame = pd.DataFrame(out, index=frame.index, copy=False)
    engine_formula = f"{yname} ~ " + " + ".join(rhs)
    return Design(parsed=parsed, response_name=parsed.response, y=y, fixed=fixed,
                  blocks=blocks, offset=offset, offset_matrices=offset_matrices,
                  engine_formula=engine_formula, engine_frame=engine_frame, to_r=to_r,
                  to_engine=to_engine, columns=list(dict.fromkeys(columns)))
