"""The canonical tables, as pandera schemas, and their vocabularies.

Every loader returns one of these tables and nothing downstream accepts
anything else. Conventions (see DESIGN.md):

* column names are snake_case English; codes are strings (``school_id`` is
  the 8-digit skolenhetskod, or the historical 9-digit code of exports before
  2013, kept as written: see :data:`SCHOOL_ID_RE`; ``municipality_id`` the
  4-digit kommunkod with ``0000`` for Sweden);
* finite vocabularies are pandas categoricals with fixed categories;
* shares and ``*_pct`` values are percentages 0–100, as Skolverket publishes
  them;
* ``results.status`` carries what the source said: a suppressed ``..`` is
  ``value = NaN, status = "suppressed"``, never 0;
* a loader keeps the source's 1-based line number as the DataFrame index
  (``index.name == "rad"``) and the file name in ``df.attrs["source"]``, so
  that a validation error can point at the cell in the user's file.

:func:`validate` coerces dtypes, checks the schema and raises
:class:`~undervisning_analys.errors.ValidationError` with a Swedish message
that names the table (or file), row and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .errors import ValidationError

# --------------------------------------------------------------------------
# Vocabularies (Literal aliases serve both type hints and runtime checks)
# --------------------------------------------------------------------------
PrincipalType = Literal["kommunal", "enskild"]
ObserverRole = Literal["rektor", "bitradande_rektor", "forstelarare", "kollega", "extern", "annan"]
ObservationType = Literal["spontan", "planerad", "kollegial"]
Level = Literal["school", "municipality", "national", "organiser"]
Group = Literal["all", "girls", "boys"]
ResultsPrincipalType = Literal["all", "kommunal", "enskild"]
Status = Literal["ok", "suppressed", "missing", "approx_100", "not_published", "excluded"]

PRINCIPAL_TYPES: tuple[str, ...] = get_args(PrincipalType)
OBSERVER_ROLES: tuple[str, ...] = get_args(ObserverRole)
OBSERVATION_TYPES: tuple[str, ...] = get_args(ObservationType)
LEVELS: tuple[str, ...] = get_args(Level)
GROUPS: tuple[str, ...] = get_args(Group)
RESULTS_PRINCIPAL_TYPES: tuple[str, ...] = get_args(ResultsPrincipalType)
STATUSES: tuple[str, ...] = get_args(Status)

GRADES: tuple[str, ...] = ("A", "B", "C", "D", "E", "F", "-", "3", "2", "1", "Z")
"""Grade codes in pupil files: A–F, ``-`` (no grade could be set) and the
codes SCB's record format uses for special cases (see io/pupils.py)."""

#: Swedish labels of the vocabularies (for reports, plots and errors).
LABELS_SV: dict[str, str] = {
    "kommunal": "kommunal", "enskild": "enskild", "all": "samtliga",
    "girls": "flickor", "boys": "pojkar",
    "rektor": "rektor", "bitradande_rektor": "biträdande rektor",
    "forstelarare": "förstelärare", "kollega": "kollega", "extern": "extern observatör",
    "annan": "annan",
    "spontan": "spontant lektionsbesök", "planerad": "planerat lektionsbesök",
    "kollegial": "kollegial observation",
    "ok": "publicerat", "suppressed": "prickat (..), för få elever",
    "missing": "saknas (.)", "approx_100": "cirka 100 (~100)",
    "not_published": "ej publicerat", "excluded": "exkluderat (*)",
    "organiser": "huvudman",
}

#: The controlled measure vocabulary: measure -> Swedish label.
#: National tests follow the pattern ``np_{subject}_{grade}_{statistic}``
#: (statistic: ``avg_points``, ``pass_pct``, ``participation_pct``, ``n``),
#: and Kolada KPIs without a mapping are kept as ``kolada_{kpi id}``.
MEASURES: dict[str, str] = {
    "merit_17": "Genomsnittligt meritvärde (17 ämnen)",
    "merit_16": "Genomsnittligt meritvärde (16 ämnen)",
    "pass_all_subjects_pct": "Andel (%) som fått godkänt betyg i alla ämnen",
    "eligible_vocational_pct": "Andel (%) behöriga till yrkesprogram",
    "eligible_natural_science_pct": "Andel (%) behöriga till naturvetenskapligt/tekniskt program",
    "eligible_economics_pct": "Andel (%) behöriga till ekonomi-, humanistiska och samhällsvetenskapliga program",
    "eligible_aesthetic_pct": "Andel (%) behöriga till estetiskt program",
    "n_pupils_grade9": "Antal elever i årskurs 9",
    "grade6_pass_all_subjects_pct": "Andel (%) elever i åk 6 som fått godkänt betyg i alla ämnen",
    "grade6_fail_one_subject_pct": "Andel (%) elever i åk 6 som ej fått godkänt betyg i ett ämne",
    "grade6_fail_several_subjects_pct": "Andel (%) elever i åk 6 som ej fått godkänt betyg i flera ämnen",
    "grade6_avg_subject_grades": "Antal ämnesbetyg i åk 6 (genomsnitt)",
    "attendance_pct": "Närvaro (%)",
    "certified_teachers_pct": "Andel (%) lärare med lärarlegitimation och behörighet",
    "certified_teachers_fte_pct": "Andel (%) heltidstjänster med lärarlegitimation och behörighet",
    "teachers_n": "Antal tjänstgörande lärare",
    "teachers_fte": "Antal heltidstjänster (lärare)",
    "first_teachers_n": "Antal förstelärare",
    "pupils_per_teacher": "Elever per lärare (heltidstjänst)",
    "special_educators_pct": "Andel (%) specialpedagoger/speciallärare",
    "special_teacher_positions": "Specialpedagoger/speciallärare (heltidstjänster)",
    "n_pupils_total": "Totalt antal elever",
    "problematic_absence_pct": "Andel (%) elever med problematisk frånvaro",
    "offences_per_100": "Anmälda kränkningar per 100 elever",
}

_NP_RE = re.compile(r"^np_[a-z]+_(3|6|9)_(avg_points|pass_pct|participation_pct|n|[a-z_]+)$")
_KOLADA_RE = re.compile(r"^kolada_[A-Za-z0-9]+$")

# --------------------------------------------------------------------------
# Outcomes beside grades: Skolenkäten, attendance, the organiser's own measures
# --------------------------------------------------------------------------
#: Skolenkäten's respondent groups -> Swedish label. A measure is
#: ``skolenkat_<index>_<group>`` (e.g. ``skolenkat_trygghet_ak8``).
SKOLENKAT_GROUPS: dict[str, str] = {
    "ak5": "elever i åk 5", "ak8": "elever i åk 8", "ak9": "elever i åk 9",
    "gy2": "elever i gymnasieskolans år 2", "vh": "vårdnadshavare",
    "vh_fsk": "vårdnadshavare i förskoleklass", "vh_gr": "vårdnadshavare i grundskolan",
    "vh_agr": "vårdnadshavare i anpassade grundskolan",
    "personal_gr": "personal i grundskolan", "personal_gy": "personal i gymnasieskolan",
    "personal": "personal",
}

#: Skolenkäten's indices (and the respondent counts) -> Swedish label. Other
#: indices in a workbook get a slug of their heading (see io/skolenkaten.py).
SKOLENKAT_INDICES: dict[str, str] = {
    "information": "Information om utbildningen", "stimulans": "Stimulans", "stod": "Stöd",
    "kritiskt_tankande": "Kritiskt tänkande", "bemotande": "Bemötande",
    "bemotande_larare": "Bemötande – lärare", "bemotande_elever": "Bemötande – elever",
    "inflytande": "Inflytande", "studiero": "Studiero", "trygghet": "Trygghet",
    "forhindra_krankningar": "Förhindra kränkningar", "elevhalsa": "Elevhälsa",
    "nojdhet": "Övergripande nöjdhet",
    "svarsfrekvens": "Svarsfrekvens (%)", "antal_svar": "Antal svarande",
    "antal_i_gruppen": "Antal i gruppen (möjliga svarande)",
}
SKOLENKAT_COUNTS = frozenset({"antal_svar", "antal_i_gruppen"})
_SKOLENKAT_RE = re.compile(
    r"^skolenkat_([a-z][a-z0-9_]*?)_(" + "|".join(sorted(SKOLENKAT_GROUPS, key=len,
                                                          reverse=True)) + r")$")
_LOCAL_RE = re.compile(r"^local_[a-z][a-z0-9_]*$")

Direction = Literal["higher_better", "lower_better", "neutral"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)


@dataclass(frozen=True)
class MeasureInfo:
    """What a measure is: its label, which way is better and its scale.

    ``direction`` lets text and charts say "better" and "worse" correctly
    (``neutral``: counts and measures where neither way is better, or a local
    measure whose direction was not declared). ``scale`` is the possible range
    (``None``: open above, e.g. meritvärde has its own range check in io).
    ``unit`` is the Swedish unit a sentence uses for a change.
    """

    measure: str
    label: str
    direction: Direction
    scale: tuple[float, float] | None
    unit: str

    def better(self, change: float) -> bool | None:
        """True if ``change`` (a difference in the measure) is an improvement."""
        if self.direction == "neutral" or change == 0 or change != change:
            return None
        return (change > 0) == (self.direction == "higher_better")


#: Declared local measures (``local_<name>``): read from the organiser's own
#: file (io/local_measures.py), which may state direction and scale.
LOCAL_MEASURES: dict[str, MeasureInfo] = {}

_INFO: dict[str, tuple[Direction, tuple[float, float] | None, str]] = {
    "merit_17": ("higher_better", (0.0, 340.0), "meritpoäng"),
    "merit_16": ("higher_better", (0.0, 320.0), "meritpoäng"),
    "attendance_pct": ("higher_better", (0.0, 100.0), "procentenheter"),
    "problematic_absence_pct": ("lower_better", (0.0, 100.0), "procentenheter"),
    "offences_per_100": ("lower_better", (0.0, float("inf")), "per 100 elever"),
    "n_pupils_grade9": ("neutral", None, "elever"),
    "n_pupils_total": ("neutral", None, "elever"),
    "teachers_n": ("neutral", None, "lärare"), "teachers_fte": ("neutral", None, "tjänster"),
    "first_teachers_n": ("neutral", None, "förstelärare"),
    "pupils_per_teacher": ("neutral", None, "elever per lärare"),
    "grade6_fail_one_subject_pct": ("lower_better", (0.0, 100.0), "procentenheter"),
    "grade6_fail_several_subjects_pct": ("lower_better", (0.0, 100.0), "procentenheter"),
}


def measure_info(measure: str) -> MeasureInfo:
    """Label, direction and scale of a measure in the controlled vocabulary.

    Skolenkäten's indices are on the survey's 0–10 index scale with higher
    better (Skolinspektionen reverses the negatively worded questions before
    averaging); its response rate is a percentage (higher better) and its
    counts are neutral. ``*_pct`` measures are 0–100 and higher is better
    unless listed otherwise (e.g. ``problematic_absence_pct``). A
    ``local_<name>`` measure is as its file declared it (neutral if it did
    not). Unknown measures raise ``KeyError``.
    """
    if not is_known_measure(measure):
        raise KeyError(measure)
    label = measure_label(measure)
    if measure in LOCAL_MEASURES:
        return LOCAL_MEASURES[measure]
    if _LOCAL_RE.match(measure):
        return MeasureInfo(measure, label, "neutral", None, "enheter")
    m = _SKOLENKAT_RE.match(measure)
    if m:
        idx = m.group(1)
        if idx in SKOLENKAT_COUNTS:
            return MeasureInfo(measure, label, "neutral", None, "svarande")
        if idx == "svarsfrekvens":
            return MeasureInfo(measure, label, "higher_better", (0.0, 100.0), "procentenheter")
        return MeasureInfo(measure, label, "higher_better", (0.0, 10.0), "indexenheter")
    if measure in _INFO:
        d, sc, unit = _INFO[measure]
        return MeasureInfo(measure, label, d, sc, unit)
    if measure.endswith("_pct"):
        return MeasureInfo(measure, label, "higher_better", (0.0, 100.0), "procentenheter")
    if _NP_RE.match(measure):
        if measure.endswith("_avg_points"):
            return MeasureInfo(measure, label, "higher_better", (0.0, 20.0), "poäng")
        if measure.endswith("_n"):
            return MeasureInfo(measure, label, "neutral", None, "elever")
    return MeasureInfo(measure, label, "neutral", None, "enheter")


def is_outcome_measure(measure: str) -> bool:
    """True for the outcomes beside grades (Skolenkäten, attendance, local measures)."""
    return bool(_SKOLENKAT_RE.match(measure) or _LOCAL_RE.match(measure)) or measure in (
        "attendance_pct", "problematic_absence_pct", "offences_per_100")
NP_SUBJECTS_SV = {
    "sv": "svenska", "sva": "svenska som andraspråk", "en": "engelska", "ma": "matematik",
    "bi": "biologi", "fy": "fysik", "ke": "kemi", "no": "naturorienterande ämnen",
    "ge": "geografi", "hi": "historia", "re": "religionskunskap", "sh": "samhällskunskap",
    "so": "samhällsorienterande ämnen",
}


def is_known_measure(measure: str) -> bool:
    """True for a measure in the controlled vocabulary (or its patterns)."""
    return (measure in MEASURES or bool(_NP_RE.match(measure))
            or bool(_KOLADA_RE.match(measure)) or bool(_SKOLENKAT_RE.match(measure))
            or bool(_LOCAL_RE.match(measure)))


def measure_label(measure: str) -> str:
    """Swedish label of a measure (falls back to the code)."""
    if measure in MEASURES:
        return MEASURES[measure]
    if measure in LOCAL_MEASURES:
        return LOCAL_MEASURES[measure].label
    m = _SKOLENKAT_RE.match(measure)
    if m:
        idx, grp = m.group(1), m.group(2)
        name = SKOLENKAT_INDICES.get(idx, idx.replace("_", " ").capitalize())
        return f"Skolenkäten, {SKOLENKAT_GROUPS[grp]}: {name}"
    if _LOCAL_RE.match(measure):
        return "Eget mått: " + measure[6:].replace("_", " ")
    m = _NP_RE.match(measure)
    if m:
        subj = measure.split("_")[1]
        stat = {"avg_points": "genomsnittlig provbetygspoäng", "pass_pct": "andel (%) med provbetyg A–E",
                "participation_pct": "andel (%) som deltagit", "n": "antal elever med provbetyg"}
        return f"Nationella prov åk {m.group(1)}, {NP_SUBJECTS_SV.get(subj, subj)}: {stat.get(m.group(2), m.group(2))}"
    return measure


# --------------------------------------------------------------------------
# Code formats
# --------------------------------------------------------------------------
SCHOOL_ID_RE = r"^\d{8,9}$"
"""A school unit code, one of two documented formats, always kept as written:

* ``12345678`` – eight digits: Skolverket's skolenhetskod (from 2013);
* ``123412345`` – nine digits: the historical code in exports before 2013, the
  municipality code followed by five digits (:func:`is_historical_school_id`).

A nine-digit code is never shortened or mapped to an eight-digit one (there is
no published key between them); the two forms are different units to the
package. Loaders check the municipality prefix where the row names its
municipality (:func:`is_school_id`)."""


def is_historical_school_id(code: str) -> bool:
    """True for a historical nine-digit unit code (municipality code + five digits)."""
    return len(code) == 9 and code.isdigit()


def is_school_id(code: str, municipality_id: str | None = None) -> bool:
    """True for an 8-digit skolenhetskod, or a 9-digit historical code whose first four
    digits are ``municipality_id`` (any municipality code when it is not known)."""
    if not code.isdigit():
        return False
    if len(code) == 8:
        return True
    if len(code) == 9:
        return municipality_id is None or code[:4] == municipality_id
    return False


MUNICIPALITY_ID_RE = r"^\d{4}$"
ORGANISER_ID_RE = r"^\d{10}$"
"""Organisationsnummer of a huvudman (10 digits, no hyphen): Skolenkäten's
organiser rows carry it in the optional ``results.organiser_id`` column."""
SCHOOL_YEAR_RE = r"^(19|20)\d{2}/\d{2}$"
TERM_RE = r"^(HT|VT)(19|20)\d{2}$"


def school_year_of(date: pd.Timestamp) -> str:
    """Läsår of a date: August–December belong to 'YYYY/YY+1', January–July to 'YYYY-1/YY'."""
    y = date.year if date.month >= 8 else date.year - 1
    return f"{y}/{(y + 1) % 100:02d}"


def term_of(date: pd.Timestamp) -> str:
    """Termin of a date: HT (August–December) or VT (January–July) + calendar year."""
    return f"HT{date.year}" if date.month >= 8 else f"VT{date.year}"


def school_year_start(school_year: str) -> int:
    """First calendar year of a läsår: '2023/24' -> 2023."""
    return int(school_year[:4])


def term_index(term: str) -> float:
    """Terms as a number on a years scale: HT2023 -> 2023.5, VT2024 -> 2024.0.

    VT2024 belongs to läsår 2023/24, HT2023 too; the index increases by 0.5 per
    term so that a model's time slope is per school year.
    """
    year = int(term[2:])
    return year + 0.5 if term.startswith("HT") else float(year)


def term_school_year(term: str) -> str:
    """Läsår of a term: HT2023 and VT2024 -> '2023/24'."""
    year = int(term[2:])
    start = year if term.startswith("HT") else year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def _school_year_consistent(sy: pd.Series) -> pd.Series:
    ok = sy.str.match(SCHOOL_YEAR_RE)
    a = pd.to_numeric(sy.str[2:4], errors="coerce")
    b = pd.to_numeric(sy.str[5:7], errors="coerce")
    return ok & (((a + 1) % 100) == b)


# --------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------
def _cat(values: tuple[str, ...]) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(list(values))


def _map_distinct(col: pd.Series, func: Any) -> pd.Series:
    """``col.map(func)`` with ``func`` called once per distinct value (700,000 item rows
    have ten terms)."""
    return col.map({v: func(v) for v in col.dropna().unique()})


def _str_col(pattern: str | None = None, nullable: bool = False, **kw) -> pa.Column:
    checks = [pa.Check.str_matches(pattern)] if pattern else []
    return pa.Column(str, checks=checks, nullable=nullable, **kw)


def _pct_check() -> pa.Check:
    return pa.Check.in_range(0, 100)


def schools_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "school_id": _str_col(SCHOOL_ID_RE, unique=True),
            "school_name": _str_col(),
            "municipality_id": _str_col(MUNICIPALITY_ID_RE),
            "municipality_name": _str_col(nullable=True),
            "principal_type": pa.Column(_cat(PRINCIPAL_TYPES)),
            "area": _str_col(nullable=True, required=False),
            "grades": _str_col(nullable=True, required=False),
        },
        coerce=True, strict=True, name="schools",
    )


def _lesson_item_columns() -> dict[str, pa.Column]:
    """The columns of one item answer in one observed lesson (observations and
    observation_categories share them)."""
    return {
        "observation_id": _str_col(),
        "school_id": _str_col(SCHOOL_ID_RE),
        "teacher_id": _str_col(),
        "observer_id": _str_col(),
        "observer_role": pa.Column(_cat(OBSERVER_ROLES)),
        "observation_type": pa.Column(_cat(OBSERVATION_TYPES)),
        "date": pa.Column("datetime64[ns]"),
        "school_year": _str_col(SCHOOL_YEAR_RE),
        "term": _str_col(TERM_RE),
        "subject": _str_col(nullable=True),
        "grade_level": pa.Column("Int64", checks=[pa.Check.in_range(0, 9)], nullable=True),
        "instrument_id": _str_col(),
        "item_id": _str_col(),
    }


def observations_schema(scale: tuple[float, float] | None = None) -> pa.DataFrameSchema:
    score_checks = [pa.Check.in_range(*scale)] if scale else []
    return pa.DataFrameSchema(
        {
            **_lesson_item_columns(),
            "score": pa.Column(float, checks=score_checks, nullable=True),
        },
        checks=[
            pa.Check(lambda d: _map_distinct(d["term"], term_school_year) == d["school_year"],
                     name="term_in_school_year"),
        ],
        unique=["observation_id", "observer_id", "item_id"],
        coerce=True, strict=True, name="observations",
    )


def observation_categories_schema() -> pa.DataFrameSchema:
    """Answers to a protocol's categorical items (yes/no, low/medium/high): one row per
    item answer in one observed lesson; the same lesson columns as ``observations``,
    ``category`` (the protocol's code, e.g. ``H``; null = unanswered) instead of a score.
    Kept and summarised, never in the teaching-quality index."""
    return pa.DataFrameSchema(
        {
            **_lesson_item_columns(),
            "category": _str_col(nullable=True),
        },
        unique=["observation_id", "observer_id", "item_id"],
        coerce=True, strict=True, name="observation_categories",
    )


def results_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "level": pa.Column(_cat(LEVELS)),
            "school_id": _str_col(SCHOOL_ID_RE, nullable=True),
            "municipality_id": _str_col(MUNICIPALITY_ID_RE, nullable=True),
            "school_year": _str_col(SCHOOL_YEAR_RE),
            "measure": pa.Column(str, checks=[pa.Check(
                lambda s: s.map(is_known_measure), element_wise=False,
                name="known_measure")]),
            "group": pa.Column(_cat(GROUPS)),
            "principal_type": pa.Column(_cat(RESULTS_PRINCIPAL_TYPES)),
            "value": pa.Column(float, nullable=True),
            "n": pa.Column("Int64", checks=[pa.Check.ge(0)], nullable=True),
            "status": pa.Column(_cat(STATUSES)),
            "source": _str_col(nullable=True),
            "organiser_id": _str_col(ORGANISER_ID_RE, nullable=True, required=False),
        },
        checks=[
            pa.Check(lambda d: (d["level"] != "school") | d["school_id"].notna(),
                     name="school_level_has_school_id"),
            pa.Check(lambda d: (d["status"] != "ok") | d["value"].notna(),
                     name="ok_has_value"),
            pa.Check(lambda d: d["status"].isin(["ok", "approx_100"]) | d["value"].isna(),
                     name="marker_has_no_value"),
        ],
        coerce=True, strict=True, name="results",
    )


def background_schema() -> pa.DataFrameSchema:
    pct = [_pct_check()]
    return pa.DataFrameSchema(
        {
            "level": pa.Column(_cat(LEVELS)),
            "school_id": _str_col(SCHOOL_ID_RE, nullable=True),
            "municipality_id": _str_col(MUNICIPALITY_ID_RE, nullable=True),
            "school_year": _str_col(SCHOOL_YEAR_RE),
            "n_pupils": pa.Column("Int64", checks=[pa.Check.ge(0)], nullable=True),
            "share_girls": pa.Column(float, checks=pct, nullable=True),
            "share_foreign_background": pa.Column(float, checks=pct, nullable=True),
            "share_parents_higher_edu": pa.Column(float, checks=pct, nullable=True),
            "share_newly_arrived": pa.Column(float, checks=pct, nullable=True),
            # Optional: the share columns of the row that read "~100" in the source
            # (value NaN, the true share above 95 %), comma-separated, e.g.
            # "share_parents_higher_edu": the background form of status approx_100.
            "approx_100": _str_col(nullable=True, required=False),
        },
        coerce=True, strict=True, name="background",
    )


def pupil_results_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "pupil_id": _str_col(),
            "school_id": _str_col(SCHOOL_ID_RE),
            "school_year": _str_col(SCHOOL_YEAR_RE),
            "grade_level": pa.Column("Int64", checks=[pa.Check.in_range(1, 9)]),
            "subject": _str_col(),
            "grade": _str_col(nullable=True),
            "points": pa.Column(float, checks=[pa.Check.in_range(0, 20)], nullable=True),
        },
        unique=["pupil_id", "school_year", "subject"],
        coerce=True, strict=True, name="pupil_results",
    )


# --------------------------------------------------------------------------
# Plans and dialogue notes (the improvement cycle, issue #15)
# --------------------------------------------------------------------------
PlanLevel = Literal["school", "organiser"]
TargetKind = Literal["dimension", "item", "result", "observations"]
NoteKind = Literal["agreement", "question"]
AgreementStatus = Literal["ej_paborjad", "pagar", "genomford", "stalls_in"]
PLAN_LEVELS: tuple[str, ...] = get_args(PlanLevel)
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
NOTE_KINDS: tuple[str, ...] = get_args(NoteKind)
AGREEMENT_STATUSES: tuple[str, ...] = get_args(AgreementStatus)
LABELS_SV.update({
    "organiser": "huvudman", "dimension": "dimension", "item": "påstående",
    "result": "resultat", "observations": "lektionsbesök", "agreement": "överenskommelse",
    "question": "fråga", "ej_paborjad": "ej påbörjad", "pagar": "pågår",
    "genomford": "genomförd", "stalls_in": "ställs in",
})


def plans_schema() -> pa.DataFrameSchema:
    """``plans``: one row per school (or organiser) plan × target.

    ``kind`` says what ``target_of`` names: a dimension id or item id of the
    instrument (target on the teaching-quality index), a results measure
    (target on its adjusted result, observed − expected), or a visit type
    (``observations``: planned lessons per term of that type). ``baseline`` is
    the value at ``baseline_term`` (filled in from the data), ``target`` the
    value aimed at by ``target_term``. ``serves`` names the organiser's
    ``target_id`` a school target serves; ``actions`` are catalogue ids
    (``undervisning_analys/plans/katalog.yaml``) or the school's own text,
    separated by ``;``.
    """
    return pa.DataFrameSchema(
        {
            "plan_id": _str_col(),
            "level": pa.Column(_cat(PLAN_LEVELS)),
            "school_id": _str_col(SCHOOL_ID_RE, nullable=True),
            "period_start": _str_col(TERM_RE),
            "period_end": _str_col(TERM_RE),
            "target_id": _str_col(),
            "kind": pa.Column(_cat(TARGET_KINDS)),
            "target_of": _str_col(),
            "baseline": pa.Column(float, nullable=True),
            "baseline_term": _str_col(TERM_RE, nullable=True),
            "target": pa.Column(float),
            "target_term": _str_col(TERM_RE),
            "actions": _str_col(nullable=True),
            "serves": _str_col(nullable=True),
        },
        checks=[
            pa.Check(lambda d: (d["level"] != "school") | d["school_id"].notna(),
                     name="school_plan_has_school_id"),
            pa.Check(lambda d: _map_distinct(d["period_start"], term_index)
                     <= _map_distinct(d["period_end"], term_index), name="period_in_order"),
        ],
        unique=["plan_id", "target_id"],
        coerce=True, strict=True, name="plans",
    )


def dialogue_notes_schema() -> pa.DataFrameSchema:
    """``dialogue_notes``: one row per school × dialogue × agreement (or question).

    ``about`` optionally names what an agreement concerns (a plan's
    ``target_id``, a dimension id or a results measure), so that the next
    report can say what the data now show about it.
    """
    return pa.DataFrameSchema(
        {
            "school_id": _str_col(SCHOOL_ID_RE),
            "dialogue_date": pa.Column("datetime64[ns]"),
            "kind": pa.Column(_cat(NOTE_KINDS)),
            "text": _str_col(),
            "owner_role": _str_col(nullable=True),
            "follow_up_date": pa.Column("datetime64[ns]", nullable=True),
            "status": pa.Column(_cat(AGREEMENT_STATUSES), nullable=True),
            "about": _str_col(nullable=True),
        },
        coerce=True, strict=True, name="dialogue_notes",
    )


TABLES = ("schools", "observations", "results", "background", "pupil_results", "plans",
          "dialogue_notes", "observation_categories")

_SCHEMAS = {
    "schools": schools_schema,
    "results": results_schema,
    "background": background_schema,
    "pupil_results": pupil_results_schema,
    "plans": plans_schema,
    "dialogue_notes": dialogue_notes_schema,
    "observation_categories": observation_categories_schema,
}

_CHECK_SV = {
    "str_matches": "fel format",
    "in_range": "utanför tillåtet intervall",
    "isin": "okänt värde",
    "greater_than_or_equal_to": "får inte vara negativt",
    "not_nullable": "värde saknas",
    "field_uniqueness": "dubblett",
    "multiple_fields_uniqueness": "dubblett",
    "dtype": "fel datatyp",
    "coerce_dtype": "kan inte tolkas som rätt datatyp",
    "column_in_dataframe": "kolumnen saknas",
    "column_in_schema": "okänd kolumn",
}

_EXPECT_SV = {
    "school_id": "en 8-siffrig skolenhetskod, t.ex. 12345678 (eller en historisk "
                 "9-siffrig kod: kommunkoden och fem siffror)",
    "municipality_id": "en 4-siffrig kommunkod, t.ex. 0604",
    "school_year": "ett läsår som 2023/24",
    "term": "en termin som HT2023 eller VT2024",
    "score": "en poäng inom protokollets skala",
    "observer_role": "en av " + ", ".join(OBSERVER_ROLES),
    "observation_type": "en av " + ", ".join(OBSERVATION_TYPES),
    "principal_type": "kommunal eller enskild (resultat: även all)",
    "status": "en av " + ", ".join(STATUSES),
    "group": "all, girls eller boys",
    "level": "school, municipality, national eller organiser",
    "measure": "ett mått i vokabulären (se schema.MEASURES)",
}


_FRAME_CHECK_COLUMN = {
    "term_in_school_year": "term",
    "school_level_has_school_id": "school_id",
    "ok_has_value": "value",
    "marker_has_no_value": "value",
    "known_measure": "measure",
    "school_plan_has_school_id": "school_id",
    "period_in_order": "period_end",
}
_CHECK_SV.update({
    "term_in_school_year": "terminen hör inte till läsåret",
    "school_level_has_school_id": "skolnivå utan skolenhetskod",
    "ok_has_value": "status ok men värde saknas",
    "marker_has_no_value": "prickat eller saknat värde har ändå ett tal",
    "known_measure": "okänt mått",
    "school_plan_has_school_id": "skolans plan utan skolenhetskod",
    "period_in_order": "perioden slutar före den börjar",
})


def _translate_check(check: str) -> str:
    key = str(check).split("(")[0]
    return _CHECK_SV.get(key, str(check))


def _source_of(df: pd.DataFrame) -> str | None:
    """The file a table came from (``attrs["source"]``), if it names one."""
    source = df.attrs.get("source")
    return source if isinstance(source, str) and source else None


def _prepare_categoricals(df: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Cast vocabulary columns to plain strings first, so unknown values surface
    as 'okänt värde' with their row instead of becoming NaN silently."""
    out = df.copy()
    for name, col in schema.columns.items():
        if name in out.columns and isinstance(col.dtype.type, pd.CategoricalDtype):
            cats = list(col.dtype.type.categories)
            vals = out[name]
            bad = vals.notna() & ~vals.astype(object).isin(cats)
            if bad.any():
                idx = vals.index[bad]
                raise _make_error(schema.name, name, [
                    {"row": i, "value": vals.loc[i], "check": "isin"} for i in idx[:10]],
                    n_failures=int(bad.sum()), source=_source_of(df))
    return out


def _make_error(table: str, column: str | None, failures: list[dict], n_failures: int,
                source: str | None) -> ValidationError:
    first = failures[0] if failures else {}
    lines = []
    for f in failures[:10]:
        col = f.get("column", column)
        lines.append(f"  rad {f.get('row')}, kolumn `{col}`: värdet {f.get('value')!r} "
                     f"({_translate_check(f.get('check', ''))})")
    col0 = first.get("column", column)
    expected = _EXPECT_SV.get(col0 or "", None)
    msg = (f"Tabellen `{table}` klarar inte kontrollen: {n_failures} fel."
           + ("\n" + "\n".join(lines) if lines else ""))
    if n_failures > 10:
        msg += f"\n  … och {n_failures - 10} fel till"
    hint = ("Förväntat: " + expected + ". " if expected else "") + \
        "Rätta värdet i källfilen och läs in den igen."
    return ValidationError(msg, failures=failures, table=table, file=source,
                           row=first.get("row"), column=col0, hint=hint)


def validate(table: str, df: pd.DataFrame, *, scale: tuple[float, float] | None = None
             ) -> pd.DataFrame:
    """Coerce and validate a canonical table; return it with canonical dtypes.

    Parameters
    ----------
    table : one of ``TABLES``.
    df : the table; its index is taken as the source row number in messages and
        ``df.attrs["source"]`` (if set) as the file name.
    scale : for ``observations``, the instrument's (min, max) score.

    Raises
    ------
    ValidationError
        In Swedish, naming table/file, row and column of (up to ten) failures.
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    schema = observations_schema(scale) if table == "observations" else _SCHEMAS[table]()
    source = _source_of(df)
    missing = [c for c, col in schema.columns.items() if col.required and c not in df.columns]
    if missing:
        raise ValidationError(
            f"Tabellen `{table}` saknar kolumnerna {', '.join(missing)}",
            table=table, file=source, column=missing[0],
            hint="Kontrollera att filen har rätt rubriker (se schema.py).")
    extra = [c for c in df.columns if c not in schema.columns]
    if extra:
        raise ValidationError(
            f"Tabellen `{table}` har okända kolumner: {', '.join(map(str, extra))}",
            table=table, file=source, column=str(extra[0]),
            hint="Byt namn på kolumnerna eller ta bort dem.")
    labels = df.index
    # pandera reports uniqueness failures through the index; it needs unique labels
    positional = not labels.is_unique or isinstance(labels, pd.MultiIndex)
    try:
        prepared = _prepare_categoricals(df, schema)
        if positional:
            prepared = prepared.reset_index(drop=True)
        out = schema.validate(prepared, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        failures = []
        seen: set = set()
        for _, r in fc.iterrows():
            idx = r.get("index")
            row = None if idx is None or (isinstance(idx, float) and np.isnan(idx)) else idx
            if row is not None and positional:
                row = labels[int(row)]
            check = str(r.get("check"))
            if r.get("schema_context") == "DataFrameSchema" and check in _FRAME_CHECK_COLUMN:
                column = _FRAME_CHECK_COLUMN[check]
                key = (row, check)
                if key in seen:
                    continue
                seen.add(key)
                value = None
            else:
                column = r.get("column") if isinstance(r.get("column"), str) else "(rad)"
                value = r.get("failure_case")
            failures.append({"row": row, "column": column, "value": value, "check": check})
            if len(failures) >= 50:
                break
        n = len(failures) if len(failures) < 50 else len(fc)
        raise _make_error(table, None, failures, n_failures=n, source=source) from None
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:
        # cells of a kind no check can compare (lists, mixed objects, …)
        raise ValidationError(
            f"Tabellen `{table}` kunde inte kontrolleras: någon kolumn har värden av en typ "
            f"som inte kan tolkas ({type(exc).__name__})", table=table, file=source,
            hint="Kontrollera att varje kolumn bara har värden av rätt slag (text, tal, "
                 "datum) och läs in filen igen.") from None
    if positional:
        out.index = labels
    out.attrs = dict(df.attrs)
    return out


def empty(table: str) -> pd.DataFrame:
    """An empty canonical table with the right columns and dtypes."""
    schema = observations_schema() if table == "observations" else _SCHEMAS[table]()
    cols = {}
    for name, col in schema.columns.items():
        if not col.required:
            continue
        dt = col.dtype.type if col.dtype is not None else object
        cols[name] = pd.Series([], dtype=dt if not isinstance(dt, type) else dt)
    return pd.DataFrame(cols)
