"""The mixed-model front door: ``fit_mixed(formula, data)`` -> :class:`MixedResult`.

Linear mixed models in lme4's formula syntax, with estimates that equal
lme4's (see ``tests/reference/lme4_reference.R`` and ``tests/test_mixed.py``).
The engine is the PyPI package ``mixedlm`` (a port of lme4 with a Rust core);
it is imported lazily inside the functions below and in :mod:`.profile` (the
profile intervals, which need its native deviance), and nothing else in the
package imports it, so the engine can be swapped behind these two modules
without touching any caller. Likelihood-ratio tests are in :mod:`.anova`. ``benchmarks/bench_engine.py`` measures the choice
against R's lme4 and statsmodels (``benchmarks/ENGINE.md``).

Everything the engine returns is copied into plain pandas/numpy objects when
the fit is made; :class:`MixedResult` keeps the engine object only to serve
:meth:`MixedResult.predict`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import math
import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._format import Z_95, number, text_table
from .._results import Result, SummaryText
from ..errors import ConvergenceWarning, DataDroppedWarning, ModelError, UAWarning
from .design import (
    Design,
    ParsedFormula,
    build_design,
    has_intercept,
    normalise_contrasts,
    parse_formula,
    required_columns,
)
from .profile import profile_bounds
from .threads import one_blas_thread

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["fit_mixed", "MixedResult", "VarCorrTable"]


#: ``fit_mixed`` options that go to the engine's ``lmer`` call itself; every
#: other engine option must be a field of the engine's ``LmerControl``.
_LMER_KWARGS = ("control", "weights", "offset", "contrasts", "verbose", "start")

#: Defaults for the engine's checks. A rank-deficient fixed-effects matrix is
#: an error naming the dependent columns (lme4 drops them with a message; the
#: engine would drop a different column than lme4 and print to stdout), and
#: we run the level checks ourselves (Swedish messages naming the column).
_CONTROL_DEFAULTS: dict[str, Any] = {
    "check_rankX": "stop",
    "check_nlev_gtr_1": "stop",
    "check_nobs_vs_nlev": "ignore",
}

_TIDY_COLUMNS = ["effect", "group", "term", "estimate", "std_error", "statistic",
                 "conf_low", "conf_high"]
_VARCORR_COLUMNS = ["group", "term1", "term2", "var_cov", "sd_cor"]
_RANEF_COLUMNS = ["group", "level", "term", "estimate", "cond_var", "std_error"]


# --------------------------------------------------------------------------- #
# front door
# --------------------------------------------------------------------------- #
def fit_mixed(formula: str, data: pd.DataFrame, reml: bool = True, *,
              family: str | None = None, **engine_options: Any) -> MixedResult:
    """Fit a linear (lmer) or generalized linear (glmer) mixed model in lme4's syntax.

    Parameters
    ----------
    formula
        An lme4 formula, e.g.
        ``"score ~ time + type + (1 | teacher) + (1 | observer) + (1 + time | school)"``,
        read as R reads it (:mod:`undervisning_analys.engine.design`; checked
        against R's ``model.matrix`` and lme4 in ``tests/test_formula_r.py``):
        R's design matrix with treatment contrasts and R's rules for which
        columns a factor gets in each term (``y ~ sex:x`` gives ``sexF:x`` and
        ``sexM:x``), ``0 +`` / ``- 1``, R's coefficient names (``sexF``,
        ``girlTRUE``, ``poly(x, 2)1``) and order (interactions after main
        effects); random intercepts and slopes ``(1 + x | g)``, factors in
        them (``(x:f | g)``), uncorrelated terms ``(x + f || g)`` expanded as
        lme4 does (``(1 | g) + (0 + x | g) + (0 + f | g)``), nesting
        ``(1 | school/teacher)`` (= ``(1 | school) + (1 | teacher:school)``),
        interactions ``(1 | school:teacher)`` and crossed factors. Functions:
        ``I()``, ``log``, ``exp``, ``sqrt``, ``poly`` (orthogonal, as R),
        ``scale``, ``factor``, ``C(f, contr.sum)`` and ``offset()``. Factor
        levels: a pandas Categorical's order, otherwise sorted by code point
        (R's order in the C locale; R in a Swedish or English locale sorts
        ``"a" < "B"`` and ``å``, ``ä``, ``ö`` differently).
    data
        One row per observation; every variable in the formula must be a
        column.
    reml
        ``True`` (default) for REML estimates as ``lme4::lmer``'s default;
        ``False`` for maximum likelihood (needed to compare fixed effects of
        nested models by likelihood ratio; :func:`anova` refits with ML itself).
        Not used for a generalized model (glmer has no REML).
    family
        ``None`` or ``"gaussian"``: a linear mixed model (``lmer``).
        ``"binomial"`` (logit link; a 0/1 or true/false outcome, counts of
        successes and failures as ``cbind(s, f) ~ ...``, or proportions with the
        number of trials as ``weights``) or ``"poisson"`` (log link; a
        count): a generalized linear mixed model with the Laplace
        approximation, as ``glmer``'s default (``nAGQ = 1``); standard errors
        from the Hessian of the deviance as ``vcov()`` of a glmer fit. Other
        families and links are refused with a message saying so.
    **engine_options
        ``contrasts`` as lme4's (``{"f": "contr.sum"}``; ``"contr.treatment"``
        is the default, its reference level the first). Passed to the engine:
        ``weights`` / ``offset`` (array with one value per row of ``data``, or a
        column name; ``offset`` adds to the formula's ``offset()``), ``verbose``, ``control`` (the engine's control object
        or a dict), or any field of that control object directly, e.g.
        ``optimizer="COBYQA"``, ``maxiter=5000``, ``boundary_tol=1e-5``;
        ``start`` gives starting values of the relative covariance parameters
        (as lme4's ``start = list(theta = ...)``; e.g. another fit's ``.theta``):
        the optimum is the same, it is only found sooner from a good start.
        ``blas_threads`` (default 1; ``None`` leaves it alone) runs the fit
        with one BLAS thread, the package's one rule
        (:mod:`undervisning_analys.engine.threads`): the engine's many small
        dense operations are several times faster single-threaded.

    Returns
    -------
    MixedResult

    Raises
    ------
    ModelError
        The formula cannot be read, names a column that is not in ``data``,
        has no random effects, a grouping factor has fewer than two levels (or
        as many levels as observations), the response is not numeric, a model
        variable holds infinite values, fixed-effect terms are linearly
        dependent (the message names them), no rows are left, or the engine
        fails.

    Warns
    -----
    DataDroppedWarning
        Rows with missing values in a model variable were left out (counted
        in ``MixedResult.n_dropped``).
    ConvergenceWarning
        The fit is singular (a variance at zero or a correlation at ±1) or the
        optimiser did not report convergence.

    Notes
    -----
    Missing data: a row with a missing value (NaN/None/NA) in any variable the
    formula uses (response, fixed and random terms, grouping factors, and a
    ``weights``/``offset`` column) is dropped before fitting (listwise, as
    lme4's ``na.omit``). The number dropped is warned about, stored in
    ``.n_dropped`` (per column in ``.n_dropped_by_column``) and printed in the
    summary. Nothing is imputed.

    Examples
    --------
    >>> res = fit_mixed("score ~ time + (1 + time | school)", df)  # doctest: +SKIP
    >>> res.tidy()                                                  # doctest: +SKIP
    """
    if not isinstance(formula, str) or not formula.strip():
        raise ModelError(
            f"Formeln måste vara en textsträng i lme4-syntax, men fick {type(formula).__name__}",
            hint='Exempel: "poang ~ tid + (1 + tid | skola)"')
    if not isinstance(data, pd.DataFrame):
        raise ModelError(
            f"Data måste vara en pandas DataFrame, men fick {type(data).__name__}",
            hint="Läs in data med pandas eller med paketets inläsningsfunktioner")
    formula = " ".join(formula.split())
    kind = _family(family)
    fit_formula, data = _cbind_outcome(formula, data, kind, engine_options)
    parsed = parse_formula(fit_formula)
    spec = _parse(parsed, data)
    given = dict(engine_options)
    contrasts = normalise_contrasts(engine_options.pop("contrasts", None))
    blas_threads = engine_options.pop("blas_threads", 1)
    if kind != "gaussian":
        _check_glmm_options(kind, engine_options)
        reml = False
    # the package's optimiser path unless the caller chose the engine's optimiser
    robust = not (set(engine_options) & _OPTIMISER_OPTIONS)
    lmer_kwargs, control = _split_engine_options(engine_options)

    columns = _model_columns(spec, lmer_kwargs)
    _check_columns_exist(columns, data)
    frame, n_dropped, dropped_by_column = _drop_missing(data, columns)
    if kind == "binomial" and pd.api.types.is_bool_dtype(frame[spec.response]):
        frame[spec.response] = frame[spec.response].astype(float)  # glmer: TRUE = 1
    _check_frame(spec, frame, n_total=len(data))
    design = build_design(parsed, frame, contrasts)
    lmer_kwargs = _vectors(lmer_kwargs, design, data, frame)
    refit = {**given, **{k: lmer_kwargs[k] for k in ("weights",) if k in lmer_kwargs}}
    if "offset" in given:  # the offset argument alone (the formula's is in the formula)
        refit["offset"] = _vectors({"offset": given["offset"]}, None, data, frame)["offset"]
    if kind != "gaussian":
        _check_glmm_response(kind, design, lmer_kwargs)

    with _blas_threads(blas_threads):
        if kind != "gaussian":
            fit, engine_warnings = _run_glmm(design, kind, lmer_kwargs)
            path = None
        elif robust:
            fit, engine_warnings, path = _run_robust(design, reml, control, lmer_kwargs)
        else:
            fit, engine_warnings = _run_engine(design, reml, control, lmer_kwargs)
            path = None
        return MixedResult._from_engine(
            fit, formula=formula, reml=reml, n_dropped=n_dropped,
            dropped_by_column=dropped_by_column, engine_warnings=engine_warnings,
            frame=frame, path=path, design=design, family=kind, refit_options=refit)


_CBIND = re.compile(r"^\s*cbind\((?P<s>[^,()]+),(?P<f>[^,()]+)\)\s*~(?P<rhs>.*)$")
#: The columns a cbind(successes, failures) outcome becomes: the share of successes,
#: fitted with the number of trials as weights (glmer's own reading of cbind()).
_CBIND_SHARE, _CBIND_TRIALS = "ua_andel_lyckade", "ua_antal_forsok"


def _cbind_outcome(formula: str, data: pd.DataFrame, kind: str,
                   options: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    """``cbind(s, f) ~ ...`` (binomial): the share s / (s + f) with s + f as weights."""
    m = _CBIND.match(formula)
    if m is None:
        return formula, data
    s, f = m["s"].strip(), m["f"].strip()
    if kind != "binomial":
        raise ModelError(
            f"Utfallet cbind({s}, {f}) (antal lyckade och misslyckade) passar bara en "
            "binomial modell", hint='Ange family="binomial"')
    if "weights" in options:
        raise ModelError(
            f"Med utfallet cbind({s}, {f}) är antalet försök ({s} + {f}) vikten; "
            "weights kan inte anges samtidigt", hint="Ta bort weights")
    for col in (s, f):
        if col not in data.columns:
            raise ModelError(f"Variabeln `{col}` i cbind({s}, {f}) finns inte som kolumn i data",
                             column=col, hint="Kontrollera stavningen (skiftläget räknas)")
        v = pd.to_numeric(data[col], errors="coerce")
        bad = v.notna() & ((v < 0) | (v != np.round(v)))
        if bad.any():
            raise ModelError(
                f"Kolumnen `{col}` i cbind({s}, {f}) måste vara antal (heltal ≥ 0), men har "
                f"{int(bad.sum())} andra värden (t.ex. {v[bad].iloc[0]:g})", column=col,
                hint="cbind() tar antal lyckade och antal misslyckade per rad")
    succ = pd.to_numeric(data[s], errors="coerce")
    trials = succ + pd.to_numeric(data[f], errors="coerce")
    share = (succ / trials).where(trials > 0, 0.0)  # no trials: weight 0, as glmer
    options["weights"] = _CBIND_TRIALS
    return (f"{_CBIND_SHARE} ~{m['rhs']}",
            data.assign(**{_CBIND_SHARE: share, _CBIND_TRIALS: trials}))


#: The families fit_mixed fits: name -> (engine family class name, link) as glmer's.
_FAMILIES = {"gaussian": ("Gaussian", "identity"), "binomial": ("Binomial", "logit"),
             "poisson": ("Poisson", "log")}


def _family(family: Any) -> str:
    if family is None:
        return "gaussian"
    name = family if isinstance(family, str) else type(family).__name__
    key = name.strip().lower()
    if key in _FAMILIES:
        return key
    raise ModelError(
        f"Familjen {name!r} stöds inte av fit_mixed",
        hint=('fit_mixed anpassar linjära blandade modeller (family=None eller "gaussian", '
              'som lme4::lmer) och generaliserade med family="binomial" (logit-länk, ett '
              'utfall 0/1) eller family="poisson" (log-länk, ett antal), med '
              "Laplace-approximationen som lme4::glmer. För andra familjer och länkar "
              "(probit, Gamma, negativ binomial, …): använd lme4::glmer i R"))


#: Options a generalized model accepts (besides contrasts and blas_threads).
_GLMM_OPTIONS = ("weights", "offset")


def _check_glmm_options(kind: str, options: dict[str, Any]) -> None:
    other = sorted(set(options) - set(_GLMM_OPTIONS))
    if "nAGQ" in other and options["nAGQ"] == 1:
        other.remove("nAGQ")
        options.pop("nAGQ")
    if other:
        raise ModelError(
            f"Alternativet {', '.join(other)} stöds inte för family={kind!r}",
            hint=("En generaliserad modell anpassas med Laplace-approximationen (nAGQ = 1, "
                  "glmer:s standard) och motorns egna inställningar; tillåtna alternativ är "
                  "weights, offset, contrasts och blas_threads. För adaptiv Gauss–Hermite "
                  "(nAGQ > 1): använd lme4::glmer i R"))


def _check_glmm_response(kind: str, design: Design, lmer_kwargs: dict[str, Any]) -> None:
    y = np.asarray(design.y, dtype=float)
    name = design.response_name
    if kind == "binomial":
        bad = (y < 0) | (y > 1)
        if bad.any():
            raise ModelError(
                f"Utfallet `{name}` måste ligga mellan 0 och 1 för family='binomial', men "
                f"{int(bad.sum())} värden gör det inte (t.ex. {y[bad][0]:g})",
                column=name,
                hint=("Koda utfallet 0/1 (eller sant/falskt); för antal lyckade av n försök: "
                      "ge andelen som utfall och n som weights"))
        if lmer_kwargs.get("weights") is None and not np.isin(y, (0.0, 1.0)).all():
            raise ModelError(
                f"Utfallet `{name}` har andelar mellan 0 och 1 men inga weights",
                column=name,
                hint="Ge antalet försök per rad som weights (som glmer med andelar)")
    else:
        bad = (y < 0) | (y != np.round(y))
        if bad.any():
            raise ModelError(
                f"Utfallet `{name}` måste vara ett antal (heltal ≥ 0) för family='poisson', "
                f"men {int(bad.sum())} värden är det inte (t.ex. {y[bad][0]:g})",
                column=name, hint="Använd en linjär modell (family=None) för andra utfall")


def _run_glmm(design: Design, kind: str, lmer_kwargs: dict[str, Any]) -> tuple[Any, list[str]]:
    """Fit with the engine's glmer: Laplace approximation (nAGQ = 1), as glmer's default."""
    from mixedlm import families, glmer

    family = getattr(families, _FAMILIES[kind][0])()
    kwargs = {k: v for k, v in lmer_kwargs.items() if k in _GLMM_OPTIONS and v is not None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = glmer(design.engine_formula, design.engine_frame, family=family, nAGQ=1,
                        **kwargs)
        except Exception as exc:
            if "rank deficient" in str(exc):
                _raise_collinear(design)
            raise ModelError(
                f"Modellen {design.parsed.formula!r} (family={kind!r}) kunde inte anpassas: "
                f"{exc}",
                hint="Kontrollera formeln och data; förenkla slumpdelen om felet kvarstår"
            ) from exc
    return fit, _emit(list(caught), stacklevel=4)


def _glmm_vcov(fit: Any) -> np.ndarray:
    """The fixed effects' covariance as lme4's ``vcov()`` of a glmer fit: twice the
    inverse Hessian of the Laplace deviance in (theta, beta), its beta block (lme4's
    ``deriv12`` central differences with step 1e-4, at the optimum)."""
    fun = fit.as_function()
    theta = np.atleast_1d(np.asarray(fit.theta, dtype=float))
    beta = np.asarray(fit.beta, dtype=float)
    x = np.r_[theta, beta]
    n, k, d = len(x), len(theta), 1e-4

    def f(v: np.ndarray) -> float:
        return float(fun(v))

    fx = f(x)
    h = np.zeros((n, n))
    for j in range(n):
        e_j = np.zeros(n)
        e_j[j] = d
        h[j, j] = (f(x + e_j) - 2 * fx + f(x - e_j)) / d**2
        for i in range(j):
            e_i = np.zeros(n)
            e_i[i] = d
            h[i, j] = h[j, i] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j)
                                 + f(x - e_i - e_j)) / (4 * d**2)
    try:
        inv = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return np.asarray(fit.vcov(), dtype=float)  # pragma: no cover - singular Hessian
    v = inv[k:, k:]
    v = v + v.T
    if not np.all(np.isfinite(v)) or np.any(np.diag(v) <= 0):
        return np.asarray(fit.vcov(), dtype=float)  # pragma: no cover
    return v


def _vectors(lmer_kwargs: dict[str, Any], design: Design | None, data: pd.DataFrame,
             frame: pd.DataFrame) -> dict[str, Any]:
    """``weights``/``offset`` as arrays on the rows kept (a column name or one value per
    input row), the formula's ``offset()`` terms added to ``offset``."""
    out = dict(lmer_kwargs)
    for key in ("weights", "offset"):
        value = out.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            vec = frame[value].to_numpy(dtype=float)
        else:
            arr = np.asarray(value, dtype=float).ravel()
            if len(arr) == len(data):
                keep = data.index.get_indexer(frame.index)
                vec = arr[keep]
            else:
                raise ModelError(
                    f"{key} har {len(arr)} värden men data har {len(data)} rader",
                    hint=f"Ge ett värde per rad i data, eller namnet på en kolumn som {key}")
        out[key] = vec
    if design is not None and design.offset is not None:
        out["offset"] = design.offset + (out["offset"] if out.get("offset") is not None else 0.0)
    return out


# --------------------------------------------------------------------------- #
# input checks
# --------------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True)
class _Spec:
    response: str
    fixed: tuple[str, ...]
    random: tuple[str, ...]
    groupings: tuple[tuple[str, ...], ...]  # one per random term; tuple = interaction/nesting
    intercept_groupings: frozenset[tuple[str, ...]]


def _parse(parsed: ParsedFormula, data: pd.DataFrame) -> _Spec:
    """The data columns the formula uses, and its grouping factors."""
    response, fixed, random, _ = required_columns(parsed, data.columns)
    if len(response) != 1:
        raise ModelError(
            f"Utfallet {parsed.response!r} i formeln {parsed.formula!r} måste vara en kolumn i "
            "data eller en funktion av en kolumn (t.ex. log(y))",
            hint=("För en binomial modell med antal lyckade och misslyckade: skriv "
                  "cbind(lyckade, misslyckade) ~ ... med family=\"binomial\", som i lme4"))
    groupings = [b.grouping for b in parsed.bars]
    with_intercept = {b.grouping for b in parsed.bars if has_intercept(b.lhs)}
    return _Spec(
        response=response[0] if len(response) == 1 else parsed.response,
        fixed=tuple(fixed),
        random=tuple(random),
        groupings=tuple(groupings),
        intercept_groupings=frozenset(with_intercept),
    )


def _split_engine_options(options: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    from mixedlm import LmerControl

    fields = {f.name for f in dataclasses.fields(LmerControl)}
    lmer_kwargs = {k: v for k, v in options.items() if k in _LMER_KWARGS}
    control_fields = {k: v for k, v in options.items() if k in fields}
    unknown = sorted(set(options) - set(lmer_kwargs) - set(control_fields))
    if unknown:
        raise ModelError(
            f"Okänt alternativ till fit_mixed: {', '.join(unknown)}",
            hint=("Tillåtna alternativ är " + ", ".join(
                sorted(set(_LMER_KWARGS) | fields | {"blas_threads"}))))
    given = lmer_kwargs.pop("control", None)
    if given is None:
        settings: dict[str, Any] = {}
    elif isinstance(given, Mapping):
        settings = dict(given)
    elif isinstance(given, LmerControl):
        settings = {f.name: getattr(given, f.name) for f in dataclasses.fields(LmerControl)}
    else:
        raise ModelError(
            f"Alternativet control måste vara en dict, men fick {type(given).__name__}")
    settings = {**_CONTROL_DEFAULTS, **settings, **control_fields}
    try:
        control = LmerControl(**settings)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"Ogiltiga inställningar för modellmotorn ({exc})") from None
    return lmer_kwargs, control


def _model_columns(spec: _Spec, lmer_kwargs: dict[str, Any]) -> list[str]:
    cols = [spec.response, *spec.fixed, *spec.random]
    cols += [c for g in spec.groupings for c in g]
    for key in ("weights", "offset"):
        if isinstance(lmer_kwargs.get(key), str):
            cols.append(lmer_kwargs[key])
    return list(dict.fromkeys(cols))  # unique, order kept


def _check_columns_exist(columns: list[str], data: pd.DataFrame) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        available = ", ".join(f"`{c}`" for c in map(str, data.columns[:30]))
        names = ", ".join(f"`{c}`" for c in missing)
        plural = "Variablerna" if len(missing) > 1 else "Variabeln"
        raise ModelError(
            f"{plural} {names} i formeln finns inte som kolumn i data",
            column=missing[0],
            hint=f"Kontrollera stavningen (skiftläget räknas). Kolumner i data: {available}")


def _drop_missing(data: pd.DataFrame, columns: list[str]
                  ) -> tuple[pd.DataFrame, int, dict[str, int]]:
    frame = data.loc[:, columns]
    na = frame.isna()
    by_column = {c: int(n) for c, n in na.sum().items() if n}
    rows = na.any(axis=1)
    n_dropped = int(rows.sum())
    if n_dropped:
        detail = ", ".join(f"`{c}`: {n}" for c, n in by_column.items())
        warnings.warn(DataDroppedWarning(
            f"{n_dropped} av {len(frame)} rader har saknade värden i modellens variabler "
            f"({detail}) och utesluts ur modellen. Resultatet bygger på "
            f"{len(frame) - n_dropped} rader; antalet finns i resultatets n_dropped."),
            stacklevel=3)
        frame = frame.loc[~rows]
    return frame.copy(), n_dropped, by_column


def _check_frame(spec: _Spec, frame: pd.DataFrame, n_total: int) -> None:
    n = len(frame)
    if n == 0:
        raise ModelError(
            f"Inga rader återstår: alla {n_total} rader har saknade värden i någon av "
            "modellens variabler",
            hint="Kontrollera att kolumnerna i formeln innehåller data")
    y = frame[spec.response]
    if not (pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)):
        example = y.iloc[0]
        raise ModelError(
            f"Utfallsvariabeln `{spec.response}` måste vara numerisk, men har typen "
            f"{y.dtype} (t.ex. värdet {example!r})",
            column=spec.response,
            hint="Omvandla kolumnen till tal, t.ex. med pd.to_numeric")
    for col in dict.fromkeys([spec.response, *spec.fixed, *spec.random]):
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            bad = ~np.isfinite(s.to_numpy(dtype=float))
            if bad.any():
                first = frame.index[bad][0]
                raise ModelError(
                    f"Kolumnen `{col}` innehåller {int(bad.sum())} oändliga värden "
                    f"(första på radindex {first!r})",
                    column=col, hint="Ersätt dem med korrekta värden eller med NaN")
    for grouping in dict.fromkeys(spec.groupings):
        name = ":".join(grouping)
        n_levels = frame.groupby(list(grouping), sort=False, observed=True).ngroups
        if n_levels < 2:
            level = ":".join(str(v) for v in frame[list(grouping)].iloc[0])
            raise ModelError(
                f"Grupperingsfaktorn `{name}` har bara en nivå ({level!r}) i de "
                f"{n} rader som används. En slumpeffekt behöver minst två grupper",
                column=name,
                hint="Ta bort termen ur formeln eller använd data med fler grupper")
        if grouping in spec.intercept_groupings and n_levels >= n:
            raise ModelError(
                f"Grupperingsfaktorn `{name}` har lika många nivåer ({n_levels}) som det "
                f"finns observationer ({n}): varje rad är en egen grupp, så gruppernas "
                "variation kan inte skiljas från residualen",
                column=name, hint="Ta bort termen eller använd data med upprepade mätningar")


# --------------------------------------------------------------------------- #
# engine
# --------------------------------------------------------------------------- #
_ENGINE_MESSAGES = [
    # (pattern in the engine's warning, warning class, Swedish text; {0}... = the
    # pattern's groups)
    (re.compile(r"singular", re.I), ConvergenceWarning,
     "Anpassningen är singulär: minst en varianskomponent skattas till (nära) noll eller "
     "en korrelation till ±1. Modellen är troligen för rik för data; förenkla "
     "slumpdelen (t.ex. ta bort en slumplutning eller använd || för okorrelerade effekter)."),
    (re.compile(r"converge", re.I), ConvergenceWarning,
     "Optimeringen konvergerade inte. Skattningarna kan vara osäkra; prova "
     "optimizer=\"COBYQA\" eller ett högre maxiter, och centrera/skala förklaringsvariablerna."),
    (re.compile(r"rank deficient", re.I), UAWarning,
     "Designmatrisen för de fasta effekterna saknar full rang (några förklaringsvariabler "
     "är linjärt beroende); kolumner som inte kan skattas har tagits bort."),
    (re.compile(r"'([^']+)' has only (\d+) levels", re.I), UAWarning,
     "Grupperingsfaktorn `{0}` har bara {1} nivåer (färre än 5); dess varianskomponent blir "
     "mycket osäker. Överväg att ta med den som fast effekt i stället."),
    (re.compile(r"different scales", re.I), UAWarning,
     "Förklaringsvariablerna har mycket olika skalor; centrera eller skala dem för "
     "stabilare skattningar."),
]


def _blas_threads(n: int | None) -> Any:
    """The BLAS thread rule for the fit: ``1`` the shared one-thread limit, ``None`` none."""
    if n is None:
        return contextlib.nullcontext()
    if n != 1:
        raise ModelError(f"blas_threads ska vara 1 eller None, men är {n!r}",
                         hint="Utelämna blas_threads (en tråd) eller ange None")
    return one_blas_thread()


#: Options with which the caller chooses the engine's own optimiser path.
_OPTIMISER_OPTIONS = frozenset({"control", "optimizer", "use_analytic_gradient", "ftol", "gtol",
                                "xtol", "maxiter", "optCtrl", "em_init"})
#: Stage 1 of the package's path: L-BFGS-B stops when an iteration lowers the
#: criterion by less than this share of it (far above rounding, so the stop does
#: not depend on the processor's floating-point details) ...
_FTOL = 1e-12
#: ... or when the projected gradient is below this many units per observation. Near
#: the optimum the criterion's last changes reach its rounding (at 59,382 forms a
#: line search stalled for 9 evaluations at a gradient of 1e-3 before the function
#: tolerance stopped it); this gradient rule stops first, on the analytic gradient.
_GTOL_PER_OBS = 1e-7
#: It is accepted when the gradient's norm is below this many units per observation
#: (the engine's own acceptance rule for its gradient stage).
_ACCEPT_PER_OBS = 1e-6


def _run_robust(design: Design, reml: bool, control: Any, lmer_kwargs: dict[str, Any]) -> tuple[Any, list[str], dict[str, Any]]:
    """The package's optimiser path: one that ends the same way on every processor.

    The engine's default ("auto") runs L-BFGS-B with exact gradients and an
    effectively disabled function tolerance, so it stops only on a tiny projected
    gradient or when the line search can no longer make progress through rounding
    noise; the latter is reported as non-convergence, which depends on the
    processor's arithmetic, and sends the fit to COBYQA *from the original start*
    (an Intel Xeon ran 65 + 183 evaluations where an AMD EPYC converged in one
    stage). Here:

    1. L-BFGS-B with exact gradients and a relative function tolerance of 1e-12
       (the criterion's last changes are then far above rounding);
    2. accepted when its gradient is small (the engine's own rule, 1e-6 per
       observation), whatever the line search reported, and no variance of a
       correlated random-effects block sits at zero (there the gradient vanishes
       by symmetry and a derivative-free check is needed);
    3. otherwise the engine's default path continues *from stage 1's estimates*
       (a warm start), not from the beginning.

    Returns the engine's fit, the translated warnings and the path taken.
    """
    import dataclasses as dc

    n = len(design.engine_frame)
    stage1 = dc.replace(control, optimizer="L-BFGS-B", use_analytic_gradient=True, ftol=_FTOL,
                        gtol=_GTOL_PER_OBS * n, check_conv=False)
    fit1, caught = _run_engine(design, reml, stage1, lmer_kwargs, emit=False)
    grad = getattr(fit1, "gradient_norm", None)
    ok = (grad is not None and np.isfinite(grad) and grad <= _ACCEPT_PER_OBS * n
          and np.isfinite(fit1.deviance) and not _correlated_at_zero(fit1))
    path1 = _optimizer_path(fit1)
    if ok:
        texts = _emit(caught)
        return fit1, texts, {**path1, "optimizers": ["L-BFGS-B"], "optimizer": "L-BFGS-B",
                             "stages": [path1], "accepted": True}
    kwargs2 = {**lmer_kwargs, "start": np.atleast_1d(np.asarray(fit1.theta, dtype=float))}
    fit2, texts = _run_engine(design, reml, control, kwargs2, stacklevel=6)
    path2 = _optimizer_path(fit2)
    return fit2, texts, {
        "optimizers": ["L-BFGS-B", *path2["optimizers"]], "optimizer": path2["optimizer"],
        "evaluations": path1["evaluations"] + path2["evaluations"],
        "iterations": path1["iterations"] + path2["iterations"],
        "message": path2["message"], "stages": [path1, path2]}


def _correlated_at_zero(fit: Any) -> bool:
    """A variance scale of a correlated random-effects block at (near) zero."""
    theta = np.atleast_1d(np.asarray(fit.theta, dtype=float))
    pos = 0
    for st in fit.matrices.random_structures:
        k = int(st.n_terms)
        if st.correlated and k > 1:
            block = theta[pos:pos + k * (k + 1) // 2]
            diag = [block[i * k - i * (i - 1) // 2] for i in range(k)]
            if min(abs(d) for d in diag) < 1e-4:
                return True
            pos += k * (k + 1) // 2
        else:
            pos += k
    return False


def _run_engine(design: Design, reml: bool, control: Any, lmer_kwargs: dict[str, Any], emit: bool = True, stacklevel: int = 5
                ) -> tuple[Any, Any]:
    """Fit with the engine. ``emit=False`` returns the engine's warnings unread
    (for :func:`_emit`) instead of translating and issuing them."""
    from mixedlm import lmer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = lmer(design.engine_formula, design.engine_frame, REML=bool(reml),
                       control=control, **lmer_kwargs)
        except Exception as exc:
            if "rank deficient" in str(exc):
                _raise_collinear(design)
            raise ModelError(
                f"Modellen {design.parsed.formula!r} kunde inte anpassas: {exc}",
                hint="Kontrollera formeln och data; förenkla slumpdelen om felet kvarstår"
            ) from exc
    if not emit:
        return fit, list(caught)
    return fit, _emit(caught, stacklevel=stacklevel)


def _emit(caught: list[Any], stacklevel: int = 4) -> list[str]:
    """Translate the engine's warnings to Swedish and issue them (``stacklevel``: the
    frames between this function and the caller of ``fit_mixed``, plus one)."""
    texts: list[str] = []
    for w in caught:
        if issubclass(w.category, DeprecationWarning):
            continue
        message = str(w.message)
        for pattern, category, swedish in _ENGINE_MESSAGES:
            match = pattern.search(message)
            if match:
                text = f"{swedish.format(*match.groups())} (Motorns meddelande: {message})"
                warnings.warn(category(text), stacklevel=stacklevel)
                texts.append(text)
                break
        else:
            text = f"Modellmotorn varnade: {message}"
            warnings.warn(UAWarning(text), stacklevel=stacklevel)
            texts.append(text)
    return texts


def _optimizer_path(fit: Any) -> dict[str, Any]:
    """The engine's optimiser path. Its default method runs L-BFGS-B with exact
    gradients and falls back to COBYQA from the same start when L-BFGS-B does not
    converge cleanly; the closing message then names both."""
    kept = str(getattr(fit, "optimizer", ""))
    message = str(getattr(fit, "message", ""))
    run = ["L-BFGS-B", "COBYQA"] if "after L-BFGS-B" in message else [kept]
    return {"optimizers": run, "optimizer": kept,
            "evaluations": int(getattr(fit, "function_evals", 0) or 0),
            "iterations": int(getattr(fit, "n_iter", 0) or 0), "message": message}


def _raise_collinear(design: Design) -> None:
    """Name the fixed-effect columns that depend linearly on earlier ones (as lme4 drops)."""
    x = design.fixed.array
    names = design.fixed_names
    dependent, rank = [], 0
    for j in range(x.shape[1]):
        r = np.linalg.matrix_rank(x[:, : j + 1])
        if r == rank:
            dependent.append(names[j])
        rank = r
    listed = ", ".join(f"`{n}`" for n in dependent)
    raise ModelError(
        f"De fasta effekterna kan inte skattas: {listed} är en linjär kombination av "
        "termer före i formeln (t.ex. samma mått i två kolumner, en konstant kolumn, "
        "en kategori som alltid sammanfaller med en annan, eller en interaktion mellan "
        "faktorer utan deras huvudeffekter, där R:s designmatris får en kolumn per "
        "nivåkombination)",
        column=dependent[0] if dependent else None,
        hint=("Ta bort termen ur formeln, slå ihop kategorierna eller skriv "
              "huvudeffekterna: f * g i stället för f:g"))


# --------------------------------------------------------------------------- #
# results
# --------------------------------------------------------------------------- #
class MixedResult(Result):
    """A fitted linear mixed model (made by :func:`fit_mixed`; never mutated).

    Attributes
    ----------
    formula, reml, nobs, n_dropped, n_dropped_by_column, ngroups
        What was fitted, and on how many rows and groups.
    fixef, se, vcov
        Fixed effects, their standard errors and covariance matrix (the
        covariance conditional on the variance components, as lme4's ``vcov``).
    varcorr
        Variance components: one row per variance (``term2`` empty) or
        covariance/correlation, with the residual last.
    reml_criterion, loglik, deviance, aic, bic
        The criterion at the optimum (REML: lme4's ``REMLcrit``; ML: the
        deviance), the (restricted) log-likelihood and derived figures.
    sigma
        Residual standard deviation.
    converged, singular, optimizer, optimizer_message, warnings
        How the optimiser ended and every warning issued for this fit.
    optimizer_path
        The optimiser's path: methods run, evaluations, iterations, converged.
    """

    def __init__(self, *, formula: str, reml: bool, coef_names: list[str],
                 beta: np.ndarray, vcov: np.ndarray, varcorr: pd.DataFrame,
                 ranef: Any, criterion: float, loglik: float, npar: int,
                 nobs: int, ngroups: dict[str, int], sigma: float, converged: bool,
                 singular: bool, optimizer: str, optimizer_message: str,
                 warning_texts: tuple[str, ...], n_dropped: int,
                 dropped_by_column: dict[str, int], row_index: pd.Index,
                 engine_fit: Any = None, theta: Any = None,
                 path: dict[str, Any] | None = None, design: Any = None,
                 family: str = "gaussian", refit: tuple[pd.DataFrame, dict[str, Any]] | None = None
                 ) -> None:
        self._path = dict(path or {})
        self._design = design
        self._family = family
        self._refit = refit
        self._theta = None if theta is None else np.asarray(theta, dtype=float).copy()
        self._formula = formula
        self._reml = bool(reml)
        self._coef_names = list(coef_names)
        self._beta = np.asarray(beta, dtype=float)
        self._vcov = pd.DataFrame(np.asarray(vcov, dtype=float), index=coef_names,
                                  columns=coef_names)
        self._varcorr = varcorr
        # A DataFrame, or a builder ``f(cond_var: bool) -> DataFrame`` evaluated on
        # first use: conditional variances cost far more than the fit itself at
        # municipality scale, so they are computed only when asked for.
        self._ranef_src = ranef
        self._ranef_cache: dict[bool, pd.DataFrame] = {}
        self._criterion = float(criterion)
        self._loglik = float(loglik)
        self._npar = int(npar)
        self._nobs = int(nobs)
        self._ngroups = dict(ngroups)
        self._sigma = float(sigma)
        self._converged = bool(converged)
        self._singular = bool(singular)
        self._optimizer = str(optimizer)
        self._optimizer_message = str(optimizer_message)
        self._warnings = tuple(warning_texts)
        self._n_dropped = int(n_dropped)
        self._dropped_by_column = dict(dropped_by_column)
        self._row_index = row_index
        self._engine_fit = engine_fit

    # -- construction from the engine -------------------------------------
    @classmethod
    def _from_engine(cls, fit: Any, *, formula: str, reml: bool, n_dropped: int,
                     dropped_by_column: dict[str, int], engine_warnings: list[str],
                     frame: pd.DataFrame, design: Design,
                     path: dict[str, Any] | None = None, family: str = "gaussian",
                     refit_options: dict[str, Any] | None = None) -> MixedResult:
        matrices = fit.matrices
        rename = design.rename
        names = [rename(n) for n in matrices.fixed_names]
        beta = np.asarray(fit.beta, dtype=float)
        glmm = family != "gaussian"
        vcov = _glmm_vcov(fit) if glmm else np.asarray(fit.vcov(), dtype=float)
        if vcov.shape != (len(names), len(names)):  # columns dropped for rank deficiency
            raise ModelError(
                "De fasta effekternas kovariansmatris har fel storlek efter att kolumner "
                "tagits bort; ta bort de linjärt beroende variablerna ur formeln")
        structures = list(matrices.random_structures)
        varcorr = _varcorr_table(fit, structures, rename, residual=not glmm)
        def ranef(cond_var: bool) -> pd.DataFrame:
            return _ranef_table(fit, structures, rename, frame, cond_var)
        loglik = float(fit.logLik().value)
        # glmer: -2 log-likelihood (lme4's deviance() of a glmer fit is another quantity)
        criterion = -2.0 * loglik if glmm else float(fit.deviance)
        npar = len(names) + len(np.atleast_1d(fit.theta)) + (0 if glmm else 1)
        # the package's path accepts a gradient stage that ends at a small gradient even
        # when its line search reported a rounding-level stall (see _run_robust)
        accepted = bool((path or {}).get("accepted", False))
        converged = (accepted or bool(fit.converged)) and not any(
            "konvergerade inte" in w for w in engine_warnings)
        ngroups = {str(k): int(v) for k, v in fit.ngrps().items()}
        return cls(
            formula=formula, reml=reml, coef_names=names, beta=beta, vcov=vcov,
            varcorr=varcorr, ranef=ranef, criterion=criterion, loglik=loglik, npar=npar,
            nobs=int(matrices.n_obs), ngroups=ngroups, sigma=float(fit.sigma),
            converged=converged, singular=bool(fit.isSingular()),
            optimizer=str(fit.optimizer), optimizer_message=str(fit.message),
            warning_texts=tuple(engine_warnings), n_dropped=n_dropped,
            dropped_by_column=dropped_by_column, row_index=frame.index, engine_fit=fit,
            theta=np.atleast_1d(fit.theta),
            path={**(path or _optimizer_path(fit)), "converged": converged}, design=design,
            family=family, refit=(frame, dict(refit_options or {})))

    # -- identity ---------------------------------------------------------------
    @property
    def formula(self) -> str:
        """The formula as given (whitespace normalised)."""
        return self._formula

    @property
    def reml(self) -> bool:
        """True for a REML fit, False for maximum likelihood (always for a glmer fit)."""
        return self._reml

    def confint_varcorr(self, level: float = 0.95) -> pd.DataFrame:
        """Profile-likelihood confidence intervals of the variance components (standard
        deviations and correlations), as lme4's
        ``confint(fit, parm = "theta_", method = "profile")``.

        As lme4, the profile is of the maximum-likelihood deviance (a REML fit is
        profiled as its ML refit) in the SDs, correlations and sigma: for each of
        them, the deviance minimised over the others, and the interval the values
        whose signed square-root difference from the minimum lies within the normal
        quantile (±1.96 for 95 %). An SD's lower bound that reaches zero is 0; a
        correlation's bound that reaches ±1 is ±1 (to 1e-6).

        Returns one row per row of ``varcorr`` in its order: ``group``, ``term1``,
        ``term2`` (set for a correlation), ``estimate`` (this fit's SD or
        correlation, from ``varcorr``), ``conf_low``, ``conf_high``.

        Raises
        ------
        ModelError
            For a generalized model (use lme4's ``confint`` in R).
        """
        if self._family != "gaussian":
            raise ModelError(
                "Profilintervall för varianskomponenter finns bara för linjära modeller",
                hint="Använd lme4::confint(fit, method = \"profile\") i R för glmer")
        if not 0 < level < 1:
            raise ModelError(f"level ska ligga mellan 0 och 1, men är {level!r}")
        fit = self._engine_fit
        structures = list(fit.matrices.random_structures)
        labels = _group_labels(structures)
        vc = self._varcorr
        rename = self._design.rename
        names: list[tuple[str, str | None, str | None]] = []
        for i, st in enumerate(structures):
            terms = [rename(t) for t in st.term_names]
            names += [(labels[(i, j)], t, None) for j, t in enumerate(terms)]
            if bool(getattr(st, "correlated", True)) and len(terms) > 1:
                names += [(labels[(i, 0)], terms[j], terms[a])
                          for j in range(len(terms)) for a in range(j + 1, len(terms))]
        names.append(("Residual", None, None))
        rows = []
        for (group, t1, t2), (low, high) in zip(names, profile_bounds(fit, level)):
            sel = (vc["group"] == group) & (
                vc["term1"].isna() if t1 is None else (vc["term1"] == t1))
            sel &= vc["term2"].isna() if t2 is None else (vc["term2"] == t2)
            est = float(vc.loc[sel, "sd_cor"].iloc[0])
            rows.append({"group": group, "term1": t1, "term2": t2, "estimate": est,
                         "conf_low": low, "conf_high": high})
        order = [r for g in dict.fromkeys(vc["group"]) for r in rows if r["group"] == g]
        out = pd.DataFrame(order, columns=["group", "term1", "term2", "estimate", "conf_low",
                                           "conf_high"])
        for c in ("term1", "term2"):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
        return out

    def _response(self) -> np.ndarray:
        if self._design is None:  # pragma: no cover - every fit has its design
            return np.full(self._nobs, np.nan)
        return np.asarray(self._design.y, dtype=float)

    def _as_ml(self) -> MixedResult:
        """This model fitted with maximum likelihood (itself when it already is)."""
        if not self._reml:
            return self
        if self._refit is None:  # pragma: no cover - every fit keeps its inputs
            raise ModelError("Modellen kan inte anpassas om med maximum likelihood")
        frame, options = self._refit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataDroppedWarning)
            return fit_mixed(self._formula, frame, reml=False, **options)

    @property
    def family(self) -> str:
        """``"gaussian"`` (lmer), ``"binomial"`` (logit) or ``"poisson"`` (log)."""
        return self._family

    @property
    def nobs(self) -> int:
        """Number of observations (rows) the model was fitted on."""
        return self._nobs

    @property
    def n_dropped(self) -> int:
        """Rows left out because a model variable was missing."""
        return self._n_dropped

    @property
    def n_dropped_by_column(self) -> dict[str, int]:
        """Missing values per model column, among all input rows."""
        return dict(self._dropped_by_column)

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (``school:teacher`` for nesting)."""
        return dict(self._ngroups)

    # -- fixed effects (views of tidy()) -----------------------------------------
    def _fixed_rows(self) -> pd.DataFrame:
        t = self.tidy()
        return t[t["effect"] == "fixed"].set_index("term")

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates, indexed by coefficient name (as in R)."""
        return self._fixed_rows()["estimate"].rename("estimate")

    @property
    def se(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return self._fixed_rows()["std_error"].rename("std_error")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects (lme4's ``vcov``)."""
        return self._vcov.copy()

    # -- variance components ---------------------------------------------------
    @property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as a tidy table (like ``as.data.frame(VarCorr(fit))``).

        Columns: ``group`` (grouping factor, ``Residual`` last), ``term1``,
        ``term2`` (empty for a variance), ``var_cov`` (variance, or covariance
        when ``term2`` is set) and ``sd_cor`` (standard deviation, or
        correlation when ``term2`` is set). Uncorrelated terms (``||``) are
        separate groups named as lme4 does (``school``, ``school.1``), and the
        groups come in lme4's order (most levels first). A generalized model
        has no ``Residual`` row. The table is a DataFrame with ``.tidy()`` and
        ``.summary()`` like every result (:class:`VarCorrTable`).
        """
        return VarCorrTable(self._varcorr.copy())

    @property
    def sigma(self) -> float:
        """Residual standard deviation."""
        return self._sigma

    # -- fit criteria -------------------------------------------------------
    @property
    def theta(self) -> np.ndarray | None:
        """The relative covariance parameters at the optimum (lme4's ``getME(fit, "theta")``:
        the lower Cholesky factors of each random-effects block divided by sigma, in
        the engine's order). Pass as ``start=`` to fit a similar model from here."""
        return None if self._theta is None else self._theta.copy()

    @property
    def reml_criterion(self) -> float:
        """Criterion at the optimum: -2 × restricted log-likelihood (REML, lme4's
        ``REMLcrit``) or, for an ML fit, the deviance (-2 × log-likelihood)."""
        return self._criterion

    @property
    def loglik(self) -> float:
        """Log-likelihood at the optimum (restricted log-likelihood for REML fits)."""
        return self._loglik

    @property
    def deviance(self) -> float:
        """-2 × ``loglik`` (for a REML fit this equals ``reml_criterion``)."""
        return -2.0 * self._loglik

    @property
    def aic(self) -> float:
        """AIC = -2 loglik + 2 × (fixed effects + covariance parameters + 1), as lme4."""
        return -2.0 * self._loglik + 2.0 * self._npar

    @property
    def bic(self) -> float:
        """BIC = -2 loglik + log(nobs) × number of parameters, as lme4."""
        return -2.0 * self._loglik + math.log(self._nobs) * self._npar

    # -- optimiser -----------------------------------------------------------
    @property
    def converged(self) -> bool:
        """True when the optimiser reported convergence without warnings."""
        return self._converged

    @property
    def singular(self) -> bool:
        """True for a boundary fit (a variance ≈ 0 or a correlation ≈ ±1)."""
        return self._singular

    @property
    def optimizer(self) -> str:
        """Name of the optimiser whose estimates were kept."""
        return self._optimizer

    @property
    def optimizer_path(self) -> dict[str, Any]:
        """How the optimum was found: ``optimizers`` (the methods run, in order),
        ``optimizer`` (the one whose estimates were kept), ``evaluations`` (deviance
        evaluations over all methods), ``iterations``, ``converged`` and ``message``."""
        return dict(self._path)

    @property
    def optimizer_message(self) -> str:
        """The optimiser's own closing message (as the engine gives it)."""
        return self._optimizer_message

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every warning issued while fitting (Swedish, with the engine's text)."""
        return self._warnings

    # -- random effects ----------------------------------------------------------
    def _modes(self, cond_var: bool) -> pd.DataFrame:
        if isinstance(self._ranef_src, pd.DataFrame):
            return self._ranef_src
        if True in self._ranef_cache:
            return self._ranef_cache[True]
        if cond_var not in self._ranef_cache:
            self._ranef_cache[cond_var] = self._ranef_src(cond_var)
        return self._ranef_cache[cond_var]

    @property
    def _ranef(self) -> pd.DataFrame:
        return self._modes(True)

    def conditional_modes(self, cond_var: bool = True) -> pd.DataFrame:
        """Conditional modes (BLUPs) of the random effects with their conditional variances.

        One row per grouping factor × level × term, like
        ``as.data.frame(ranef(fit, condVar = TRUE))`` in R: ``group``,
        ``level``, ``term``, ``estimate`` (the conditional mode, a deviation
        from the fixed effects), ``cond_var`` (conditional variance) and
        ``std_error`` (its square root, lme4's ``condsd``).
        With ``cond_var=False`` only the modes are computed (much cheaper for
        large models); ``cond_var`` and ``std_error`` are then NaN.
        """
        return self._modes(cond_var).copy()

    @property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes as lme4's ``ranef``: per grouping factor, levels × terms."""
        out: dict[str, pd.DataFrame] = {}
        for group, part in self._modes(False).groupby("group", sort=False):
            wide = part.pivot(index="level", columns="term", values="estimate")
            terms = list(dict.fromkeys(part["term"]))
            levels = list(dict.fromkeys(part["level"]))
            wide = wide.loc[levels, terms]
            wide.columns.name = None
            out[str(group)] = wide
        return out

    # -- prediction --------------------------------------------------------------
    def predict(self, newdata: pd.DataFrame | None = None, re_form: str | None = None,
                allow_new_levels: bool = False, type: str = "link") -> pd.Series:
        """Predicted values, as lme4's ``predict``.

        Parameters
        ----------
        newdata
            Rows to predict for; ``None`` gives the fitted values of the rows
            the model used (indexed as in the input data).
        re_form
            ``None`` includes all random effects (conditional prediction);
            ``"~0"`` or ``"NA"`` gives the fixed-effects (population) prediction.
        allow_new_levels
            Predict groups not seen in the fit with random effects 0.
        type
            For a generalized model: ``"link"`` (default, as lme4: log-odds or log
            of the expected count) or ``"response"`` (probability or expected count).
        """
        if type not in ("link", "response"):
            raise ModelError(f"type={type!r} stöds inte",
                             hint='Använd "link" (länkskalan) eller "response" (utfallets skala)')
        if re_form not in (None, "~0", "NA"):
            raise ModelError(
                f"re_form={re_form!r} stöds inte",
                hint='Använd None (alla slumpeffekter) eller "~0" (bara fasta effekter)')
        fit = self._engine_fit
        if fit is None:
            raise ModelError("Resultatet saknar den anpassade modellen och kan inte prediktera")
        kind = {"type": type} if self._family != "gaussian" else {}
        if newdata is None:
            values = fit.predict(re_form=re_form, **kind)
            return pd.Series(np.asarray(values, dtype=float), index=self._row_index,
                             name="prediction")
        if not isinstance(newdata, pd.DataFrame):
            raise ModelError(
                f"newdata måste vara en pandas DataFrame, men fick {newdata.__class__.__name__}")
        new, offset = newdata, None
        if self._design is not None:
            try:
                new, offset = self._design.new_frame(newdata)
            except Exception as exc:  # formulaic's evaluation errors name the column
                missing = [c for c in self._design.columns if c not in newdata.columns]
                raise ModelError(
                    f"Prediktionen misslyckades för newdata: {exc}",
                    column=missing[0] if missing else None,
                    hint=("newdata måste ha alla kolumner i formeln"
                          + (f" (saknas: {', '.join(missing)})" if missing else "")
                          + " och kategorier som fanns i anpassningen")) from None
        extra = {**kind, **({} if offset is None else {"offset": offset})}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                values = fit.predict(newdata=new, re_form=re_form,
                                     allow_new_levels=allow_new_levels, **extra)
        except (ValueError, KeyError) as exc:
            text = str(exc)
            col = re.search(r"'([^']+)'", text)
            raise ModelError(
                f"Prediktionen misslyckades för newdata: {text}",
                column=col.group(1) if col else None,
                hint=("newdata måste ha alla kolumner i formeln och bara grupper som fanns i "
                      "anpassningen (eller allow_new_levels=True)")) from None
        return pd.Series(np.asarray(values, dtype=float), index=newdata.index,
                         name="prediction")

    # -- Result protocol -------------------------------------------------------------
    def _tidy(self) -> pd.DataFrame:
        se = np.sqrt(np.diag(self._vcov.to_numpy()))
        fixed = pd.DataFrame({
            "effect": "fixed",
            "group": None,
            "term": self._coef_names,
            "estimate": self._beta,
            "std_error": se,
            "statistic": self._beta / se,
            "conf_low": self._beta - Z_95 * se,
            "conf_high": self._beta + Z_95 * se,
        })
        rows = []
        for r in self._varcorr.itertuples(index=False):
            if r.group == "Residual":
                term = "sd__Observation"
            elif pd.isna(r.term2):
                term = f"sd__{r.term1}"
            else:
                term = f"cor__{r.term1}.{r.term2}"
            rows.append({"effect": "ran_pars", "group": r.group, "term": term,
                         "estimate": r.sd_cor})
        ran = pd.DataFrame(rows, columns=["effect", "group", "term", "estimate"])
        for c in ("std_error", "statistic", "conf_low", "conf_high"):
            ran[c] = np.nan
        out = pd.concat([fixed, ran], ignore_index=True)[_TIDY_COLUMNS]
        out["group"] = out["group"].astype(object).where(out["group"].notna(), None)
        return out

    def _summary_text(self) -> str:
        t = self.tidy()
        fixed = t[t["effect"] == "fixed"]
        method = "REML (restricted maximum likelihood)" if self._reml else "maximum likelihood (ML)"
        glmm = self._family != "gaussian"
        title = f"Linjär blandad modell, skattad med {method}"
        if glmm:
            link = _FAMILIES[self._family][1]
            title = (f"Generaliserad linjär blandad modell ({self._family}, {link}-länk), "
                     "skattad med maximum likelihood (Laplace-approximation, som lme4::glmer)")
        lines = [title,
                 f"Formel: {self._formula}",
                 f"Antal observationer: {self._nobs}"]
        if self._n_dropped:
            detail = ", ".join(f"{c}: {n}" for c, n in self._dropped_by_column.items())
            lines.append(f"Uteslutna rader med saknade värden: {self._n_dropped} ({detail})")
        lines.append("Antal grupper: " + ", ".join(f"{g} {n}" for g, n in self._ngroups.items()))
        if self._reml:
            lines.append(f"REML-kriterium: {number(self._criterion, 3)}  "
                         f"(log-likelihood {number(self._loglik, 3)})")
        elif glmm:
            lines.append(f"−2 log-likelihood: {number(self._criterion, 3)}  log-likelihood: "
                         f"{number(self._loglik, 3)}  AIC: {number(self.aic, 1)}  "
                         f"BIC: {number(self.bic, 1)}")
        else:
            lines.append(f"Devians: {number(self._criterion, 3)}  log-likelihood: "
                         f"{number(self._loglik, 3)}  AIC: {number(self.aic, 1)}  "
                         f"BIC: {number(self.bic, 1)}")
        lines += ["", "Fasta effekter",
                  "De fasta effekterna är de genomsnittliga sambanden i hela materialet: hur "
                  "mycket utfallet i genomsnitt ändras när variabeln ökar en enhet (för en "
                  "kategori: skillnaden mot referenskategorin). Medelfelet anger osäkerheten; "
                  "95 % KI är skattningen ± 1,96 medelfel (Wald).", ""]
        if glmm:
            what, ratio = (("log-oddset för utfallet", "oddskvoten")
                           if self._family == "binomial" else
                           ("logaritmen av det förväntade antalet",
                            "kvoten mellan förväntade antal"))
            lines[-2] = ("De fasta effekterna är de genomsnittliga sambanden i hela "
                         f"materialet: hur mycket {what} ändras när variabeln ökar en enhet "
                         "(för en kategori: skillnaden mot referenskategorin) inom en given "
                         f"grupp; exp(skattning) är {ratio}. Medelfelet anger osäkerheten; "
                         "95 % KI är skattningen ± 1,96 medelfel (Wald).")
        header = ["term", "skattning", "medelfel", "z-värde" if glmm else "t-värde", "95 % KI"]
        body = [[r.term, number(r.estimate, 4), number(r.std_error, 4), number(r.statistic, 2),
                 f"[{number(r.conf_low, 4)}; {number(r.conf_high, 4)}]"]
                for r in fixed.itertuples(index=False)]
        lines += text_table(header, body)
        lines += ["", "Varianskomponenter",
                  "Varianskomponenterna visar hur mycket grupperna (t.ex. skolor, lärare, "
                  "observatörer) skiljer sig åt kring de fasta effekterna, som varians och "
                  "standardavvikelse. En korrelation visar hur gruppernas avvikelser hänger "
                  "ihop (t.ex. startnivå och förändring över tid). "
                  + ("I en generaliserad modell finns ingen residualvarians; variationen inom "
                     "grupperna följer av fördelningen." if glmm else
                     "Residualen är den variation som återstår inom grupperna."), ""]
        header = ["grupp", "term", "varians", "std.avvikelse", "korrelation med"]
        body = []
        vc = self._varcorr
        for r in vc[vc["term2"].isna()].itertuples(index=False):
            corr = vc[(vc["group"] == r.group) & (vc["term2"] == r.term1)]
            corr_text = ", ".join(f"{c.term1}: {number(c.sd_cor, 2)}"
                                  for c in corr.itertuples(index=False))
            body.append([r.group, "" if pd.isna(r.term1) else r.term1,
                         number(r.var_cov, 4), number(r.sd_cor, 4), corr_text])
        lines += text_table(header, body)
        lines.append("")
        if self._converged and not self._singular:
            lines.append(f"Optimeringen konvergerade ({self._optimizer}).")
        else:
            if not self._converged:
                lines.append(f"OBS: optimeringen konvergerade inte ({self._optimizer}: "
                             f"{self._optimizer_message}).")
            if self._singular:
                lines.append("OBS: anpassningen är singulär (en varianskomponent ≈ 0 eller en "
                             "korrelation ≈ ±1); förenkla slumpdelen.")
        return "\n".join(lines)

    def _summary_html(self) -> str:
        text = self._summary_text()
        return ("<div class='ua-mixed'><pre style='white-space:pre-wrap'>"
                f"{html.escape(text)}</pre></div>")

    def plot(self, ax: Axes | None = None, *, intercept: bool = False) -> Axes:
        """Coefficient plot: fixed effects with Wald 95 % intervals.

        The intercept is left out unless ``intercept=True`` (or it is the only
        term), since it is usually on a different scale.
        """
        import matplotlib.pyplot as plt

        t = self.tidy()
        fixed = t[t["effect"] == "fixed"]
        if not intercept and len(fixed) > 1:
            fixed = fixed[fixed["term"] != "(Intercept)"]
        if ax is None:
            _, ax = plt.subplots(figsize=(6.0, 0.5 * len(fixed) + 1.5))
        y = np.arange(len(fixed))[::-1]
        est = fixed["estimate"].to_numpy()
        err = np.vstack([est - fixed["conf_low"].to_numpy(), fixed["conf_high"].to_numpy() - est])
        ax.errorbar(est, y, xerr=err, fmt="o", color="C0", ecolor="C0", capsize=3)
        ax.axvline(0.0, color="0.5", linewidth=1, linestyle="--")
        ax.set_yticks(y)
        ax.set_yticklabels(["Intercept" if x == "(Intercept)" else x for x in fixed["term"]])
        ax.set_xlabel("Skattning med 95 % konfidensintervall")
        ax.set_title("Fasta effekter")
        return ax

    def __repr__(self) -> str:
        kind = "REML" if self._reml else "ML"
        return (f"<MixedResult {self._formula!r} ({kind}, n={self._nobs}, "
                f"kriterium={self._criterion:.4f})>")


class VarCorrTable(pd.DataFrame):
    """The variance components (``MixedResult.varcorr``): a DataFrame, with the
    results protocol's ``tidy()`` (a plain copy, the numbers' single source) and a
    Swedish ``summary()``. Anything derived from it (a filter, a column) is a plain
    DataFrame."""

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame

    def tidy(self) -> pd.DataFrame:
        """The table as a plain DataFrame (a copy): ``group``, ``term1``, ``term2``,
        ``var_cov``, ``sd_cor``."""
        return pd.DataFrame(self).copy()

    def summary(self) -> SummaryText:
        """The variance components as Swedish text (variance, SD, correlations)."""
        header = ["grupp", "term", "varians", "std.avvikelse", "korrelation med"]
        body = []
        vc = self.tidy()
        for r in vc[vc["term2"].isna()].itertuples(index=False):
            corr = vc[(vc["group"] == r.group) & (vc["term2"] == r.term1)]
            corr_text = ", ".join(f"{c.term1}: {number(c.sd_cor, 2)}"
                                  for c in corr.itertuples(index=False))
            body.append([r.group, "" if pd.isna(r.term1) else r.term1,
                         number(r.var_cov, 4), number(r.sd_cor, 4), corr_text])
        text = "\n".join(["Varianskomponenter", *text_table(header, body)])
        return SummaryText(text, f"<pre>{html.escape(text)}</pre>")


# --------------------------------------------------------------------------- #
# extraction helpers
# --------------------------------------------------------------------------- #
def _lme4_order(structures: list[Any]) -> list[int]:
    """lme4's order of the random-effects terms: grouping factors by decreasing number
    of levels (mkReTrms), ties as written; the engine keeps the written order."""
    return sorted(range(len(structures)),
                  key=lambda i: -len(getattr(structures[i], "level_map", ())))


def _group_labels(structures: list[Any]) -> dict[tuple[int, int], str]:
    """lme4's group label of each (term block, term): ``school``, ``school.1``, …
    (an uncorrelated block ``(x || g)`` is one group per term)."""
    used: dict[str, int] = {}

    def label(name: str) -> str:
        k = used.get(name, 0)
        used[name] = k + 1
        return name if k == 0 else f"{name}.{k}"

    out: dict[tuple[int, int], str] = {}
    for i in _lme4_order(structures):
        st = structures[i]
        k = len(st.term_names)
        if bool(getattr(st, "correlated", True)) and k > 1:
            name = label(st.grouping_factor)
            out.update({(i, j): name for j in range(k)})
        else:
            out.update({(i, j): label(st.grouping_factor) for j in range(k)})
    return out


def _varcorr_table(fit: Any, structures: list[Any], rename, residual: bool = True
                   ) -> pd.DataFrame:
    groups = list(fit.VarCorr().groups.values())
    if len(groups) != len(structures):  # pragma: no cover - engine contract
        raise ModelError("Modellmotorns varianskomponenter kunde inte läsas")
    rows: list[dict[str, Any]] = []
    labels = _group_labels(structures)
    for i in _lme4_order(structures):
        struct, g = structures[i], groups[i]
        terms = [rename(t) for t in g.term_names]
        cov = np.atleast_2d(np.asarray(g.cov, dtype=float))
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        correlated = bool(getattr(struct, "correlated", True)) and len(terms) > 1
        for j, term in enumerate(terms):
            rows.append(_vc_row(labels[(i, j)], term, None, cov[j, j], sd[j]))
        if correlated:
            for a in range(len(terms)):
                for b in range(a + 1, len(terms)):
                    denom = sd[a] * sd[b]
                    corr = cov[a, b] / denom if denom > 0 else np.nan
                    rows.append(_vc_row(labels[(i, a)], terms[a], terms[b], cov[a, b], corr))
    if residual:  # a glmer fit has no residual variance (lme4 writes none)
        sigma = float(fit.sigma)
        rows.append(_vc_row("Residual", None, None, sigma**2, sigma))
    out = pd.DataFrame(rows, columns=_VARCORR_COLUMNS)
    for c in ("term1", "term2"):  # missing as None, not NaN
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def _vc_row(group: str, t1: str | None, t2: str | None, vc: float, sc: float) -> dict:
    return {"group": group, "term1": t1, "term2": t2, "var_cov": float(vc), "sd_cor": float(sc)}


def _level_labels(struct: Any, frame: pd.DataFrame) -> list[str]:
    """Level labels in the engine's order; an interaction ``a:b`` is labelled
    ``"a-value:b-value"`` as in lme4 (the engine itself joins with '/')."""
    levels = sorted(struct.level_map, key=struct.level_map.get)
    columns = struct.grouping_factor.split(":")
    indices = getattr(struct, "level_indices", None)
    if (len(columns) > 1 and all(c in frame.columns for c in columns)
            and indices is not None and len(indices) == len(frame)):
        first = pd.Series(np.arange(len(frame))).groupby(np.asarray(indices)).first()
        rows = frame.iloc[first.to_numpy()][columns].astype(str)
        return [":".join(r) for r in rows.itertuples(index=False, name=None)]
    return [str(lv) for lv in levels]


def _ranef_table(fit: Any, structures: list[Any], rename,
                 frame: pd.DataFrame, cond_var: bool = True) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        re_ = fit.ranef(condVar=cond_var)
    if isinstance(re_, dict):  # the engine returns a plain mapping without condVar
        values, cond = re_, None
    else:
        values, cond = re_.values, (re_.condVar if cond_var else None)
    frames = []
    seen: set[tuple[str, str]] = set()
    for struct in structures:
        group = struct.grouping_factor
        levels = _level_labels(struct, frame)
        for term in struct.term_names:
            if (group, term) in seen:
                continue
            seen.add((group, term))
            est = np.asarray(values[group][term], dtype=float)
            var = (np.asarray(cond[group][term], dtype=float) if cond is not None
                   else np.full(len(est), np.nan))
            frames.append(pd.DataFrame({
                "group": group, "level": [str(lv) for lv in levels], "term": rename(term),
                "estimate": est, "cond_var": var, "std_error": np.sqrt(np.clip(var, 0, None)),
            }))
    if not frames:  # pragma: no cover
        return pd.DataFrame(columns=_RANEF_COLUMNS)
    return pd.concat(frames, ignore_index=True)[_RANEF_COLUMNS]
