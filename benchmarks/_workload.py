"""The benchmark workloads: a Göteborg-sized municipality and a national results file.

Everything here is synthetic and is written to a temporary folder outside the
repository (``benchmarks/run.py`` refuses a work folder inside it): the
pupil files carry valid-looking but invented personnummer, as SCB's record
format requires, and must never be committed.

Scales
------
``goteborg`` (issue 8): 200 school units, 14–25 teachers per school (about
4,000 teachers in post at any time, about 5,600 over five years with 12 %
turnover), about 650 observers (rektor, biträdande rektor, 1–2 förstelärare
per school and 28 external observers: ``synth`` fixes observers per school,
see the note in RESULTS.md), about 60,000 scored lesson observations (forms;
about 50,000 lessons, 15 % of them paired) = about 700,000 item scores over
10 terms (5 school years), and 48,900 pupils per school year × 5 years with
17–18 subject grades each, about 4.1 million grade rows.

"60,000 observation scores" is read as 60,000 scored observations (forms),
1.5 per teacher and term, a realistic visiting rate for a large
municipality. Read as 60,000 *item* scores (5,000 forms, two per school and
term) nearly every school × term cell would fall below the privacy floor of
5 observations and the model would have one observation per teacher.

The pupil count follows the issue (48,900 = all of Göteborg's compulsory
school pupils) although SCB's år 9 file holds only the år 9 cohort (about
5,500 in Göteborg): the workload is nine times the real år 9 load, a
deliberately pessimistic size for the 4-million-row target.

``small``: a handful of schools, for the smoke test.

National file (scale beyond): every school unit in Sweden (about 4,800 with
år 9 results across 290 municipalities) × 10 school years, as the canonical
``schools``, ``results`` (Skolverket's rounding and ``..``) and ``background``
tables, plus a school × term teaching-quality index drawn from a known truth
(no national observation data exist; the index is what ``link`` consumes).
"""

from __future__ import annotations

import dataclasses
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: SCB's record layout for final grades år 9 (Postbeskrivning, VT 2025), in order.
SCB_COLUMNS = ["System", "Datum", "Version", "PersonNr", "Skolenhetskod", "Klass", "Fornamn",
               "Efternamn", "Bl", "En", "Hkk", "Idh", "Ma", "M1 (språk)", "M1 (betyg)",
               "M2 (språk)", "M2 (betyg)", "ML (språk)", "ML (betyg)", "Mu", "Bi", "Fy", "Ke",
               "Ge", "Hi", "Re", "Sh", "Sl", "Sv", "Sva", "Tn", "Tk", "OVR"]
#: synth's subject -> the SCB column holding its grade.
SCB_SUBJECT_COLUMN = {"Bl": "Bl", "En": "En", "Hkk": "Hkk", "Idh": "Idh", "Ma": "Ma",
                      "M2": "M2 (betyg)", "Mu": "Mu", "Bi": "Bi", "Fy": "Fy", "Ke": "Ke",
                      "Ge": "Ge", "Hi": "Hi", "Re": "Re", "Sh": "Sh", "Sl": "Sl", "Sv": "Sv",
                      "Sva": "Sva", "Tk": "Tk"}
#: grade as in the canonical table -> SCB code ('-' is written 9).
SCB_GRADE_CODE = {"A": "A", "B": "B", "C": "C", "D": "D", "E": "E", "F": "F", "-": "9"}

_FIRST = ["Alva", "Elsa", "Maja", "Wilma", "Ella", "Ebba", "Liam", "Noah", "Hugo", "William",
          "Oscar", "Lucas", "Nora", "Saga", "Alice", "Elias", "Vera", "Leo", "Axel", "Astrid"]
_LAST = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
         "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson"]


@dataclass(frozen=True)
class Scale:
    """Arguments of one workload size."""

    name: str
    synth_args: dict[str, Any]
    notebook_schools: int
    """Schools whose notebook is executed for the naive baseline (extrapolated)."""
    national_schools: int
    national_municipalities: int
    national_years: int
    extra: dict[str, Any] = field(default_factory=dict)


SCALES: dict[str, Scale] = {
    "goteborg": Scale(
        name="goteborg",
        synth_args={"seed": 8, "n_schools": 200, "n_years": 5, "effect": 0.3,
                    "first_year": 2020, "n_areas": 6, "teachers_per_school": (14, 26),
                    "pupils_per_grade": (220, 270), "observation_rate": (0.95, 1.75),
                    "thin_schools": 2, "compute_slope": False},
        notebook_schools=3, national_schools=4800, national_municipalities=290,
        national_years=10),
    "small": Scale(
        name="small",
        synth_args={"seed": 3, "n_schools": 6, "n_years": 3, "effect": 0.3,
                    "first_year": 2022, "n_areas": 2, "teachers_per_school": (6, 10),
                    "pupils_per_grade": (20, 40), "observation_rate": (0.6, 1.0),
                    "thin_schools": 0, "compute_slope": False},
        notebook_schools=1, national_schools=300, national_municipalities=20,
        national_years=4),
}


# --------------------------------------------------------------------------- #
# layout of a work folder
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def municipality(self) -> Path:
        """The municipality's files, as a quality developer brings them (load_folder)."""
        return self.root / "kommun"

    @property
    def pupils(self) -> Path:
        """SCB pupil grade files (synthetic personnummer: temp folder only)."""
        return self.root / "elevfiler"

    @property
    def dataset(self) -> Path:
        """The generated Dataset (pickle, without pupil rows)."""
        return self.root / "dataset.pkl"

    @property
    def loaded(self) -> Path:
        """The Dataset as load_folder returned it (written by the load stage)."""
        return self.root / "loaded.pkl"

    @property
    def national(self) -> Path:
        return self.root / "nationell.pkl"

    @property
    def manifest(self) -> Path:
        return self.root / "workload.json"


# --------------------------------------------------------------------------- #
# synthetic personnummer
# --------------------------------------------------------------------------- #
def luhn_digit(digits: np.ndarray) -> np.ndarray:
    """Check digit of rows of 9 digits (YYMMDDNNN), the Tax Agency's Luhn rule."""
    w = np.array([2, 1, 2, 1, 2, 1, 2, 1, 2])
    p = digits * w
    s = (p // 10 + p % 10).sum(axis=1)
    return (10 - s % 10) % 10


def personnummer(birth_year: int, girl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distinct valid-looking 12-digit personnummer (ååååmmddnnnc) born in ``birth_year``.

    The third serial digit is even for girls and odd for boys, as in real
    numbers. Synthetic: any resemblance to a real person's number is chance,
    and the files that hold them live only in a temporary folder.
    """
    n = len(girl)
    days = pd.date_range(f"{birth_year}-01-01", f"{birth_year}-12-31", freq="D")
    # serial = 10 * s12 + s3 with s12 in 0..99 and s3 in 0..9; parity of s3 = sex
    n_slots = len(days) * 100 * 5
    if n > n_slots:
        raise ValueError(f"too many pupils ({n}) for one birth year")
    out = np.empty(n, dtype=object)
    for is_girl in (True, False):
        idx = np.flatnonzero(girl == is_girl)
        slot = rng.choice(n_slots, size=len(idx), replace=False)
        day = slot // 500
        s12 = (slot % 500) // 5
        s3 = 2 * (slot % 5) + (0 if is_girl else 1)
        d = days[day]
        yy = birth_year % 100
        nine = np.column_stack([
            np.full(len(idx), yy // 10), np.full(len(idx), yy % 10),
            d.month.to_numpy() // 10, d.month.to_numpy() % 10,
            d.day.to_numpy() // 10, d.day.to_numpy() % 10,
            s12 // 10, s12 % 10, s3])
        check = luhn_digit(nine)
        txt = (str(birth_year) + pd.Series(d.strftime("%m%d")).to_numpy().astype(object)
               + pd.Series(s12).map("{:02d}".format).to_numpy().astype(object)
               + s3.astype(str).astype(object) + check.astype(str).astype(object))
        out[idx] = txt
    return out


# --------------------------------------------------------------------------- #
# SCB pupil files
# --------------------------------------------------------------------------- #
def scb_pupil_table(pupil_results: pd.DataFrame, school_year: str,
                    rng: np.random.Generator) -> pd.DataFrame:
    """One school year of canonical pupil rows -> SCB's wide record layout (strings)."""
    pr = pupil_results[pupil_results["school_year"] == school_year]
    pcode, pupils = pd.factorize(pr["pupil_id"], sort=False)
    n = len(pupils)
    school = pr.groupby(pcode, sort=True)["school_id"].first().to_numpy()
    cols = {c: np.full(n, "", dtype=object) for c in SCB_COLUMNS}
    end_year = int(school_year[:4]) + 1
    cols["System"][:] = "Syntetiskt"
    cols["Datum"][:] = f"{end_year}-06-20"
    cols["Version"][:] = "1.0"
    girl = rng.random(n) < 0.49
    cols["PersonNr"] = personnummer(end_year - 16, girl, rng)
    cols["Skolenhetskod"] = school.astype(object)
    cols["Klass"] = ("9" + np.array(list("ABCDEFG"))[rng.integers(0, 7, n)]).astype(object)
    cols["Fornamn"] = np.array(_FIRST, dtype=object)[rng.integers(0, len(_FIRST), n)]
    cols["Efternamn"] = np.array(_LAST, dtype=object)[rng.integers(0, len(_LAST), n)]
    grade = pr["grade"].map(SCB_GRADE_CODE).to_numpy()
    subj = pr["subject"].to_numpy()
    for s, col in SCB_SUBJECT_COLUMN.items():
        m = subj == s
        cols[col][pcode[m]] = grade[m]
    has_sv = cols["Sv"] != ""
    has_sva = cols["Sva"] != ""
    cols["Sv"][has_sva & ~has_sv] = "2"
    cols["Sva"][has_sv & ~has_sva] = "2"
    has_m2 = cols["M2 (betyg)"] != ""
    cols["M2 (språk)"][has_m2] = np.array(["SPA", "TYS", "FRA"], dtype=object)[
        rng.integers(0, 3, int(has_m2.sum()))]
    return pd.DataFrame(cols, columns=SCB_COLUMNS)


def write_scb_pupil_files(pupil_results: pd.DataFrame, folder: Path, seed: int) -> list[Path]:
    """Write one SCB record file (``;``-separated text, header row) per school year."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 10_000)
    paths = []
    for sy in sorted(pupil_results["school_year"].unique()):
        table = scb_pupil_table(pupil_results, sy, rng)
        path = folder / f"slutbetyg_ak9_{int(sy[:4]) + 1}.txt"
        line = table[SCB_COLUMNS[0]].to_numpy(dtype=object)
        for c in SCB_COLUMNS[1:]:
            line = line + ";" + table[c].to_numpy(dtype=object)
        text = ";".join(SCB_COLUMNS) + "\n" + "\n".join(line.tolist()) + "\n"
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- #
# the municipality
# --------------------------------------------------------------------------- #
def generate(scale: Scale, root: Path) -> dict[str, Any]:
    """Generate the municipality and write its files; return counts and timings."""
    from undervisning_analys import synth
    from undervisning_analys.sample import write_sample

    p = Paths(root)
    t0 = time.perf_counter()
    ds = synth.municipality(**scale.synth_args)
    t_synth = time.perf_counter() - t0
    write_sample(ds, p.municipality)
    t_write = time.perf_counter() - t0 - t_synth
    pr = ds.pupil_results
    files = write_scb_pupil_files(pr, p.pupils, int(scale.synth_args["seed"]))
    t_pupils = time.perf_counter() - t0 - t_synth - t_write
    o = ds.observations
    counts = {
        "schools": int(len(ds.schools)),
        "teachers": int(o["teacher_id"].nunique()),
        "teachers_in_post": int(round(o.groupby("school_year")["teacher_id"].nunique().mean())),
        "observers": int(o["observer_id"].nunique()),
        "lessons": int(o["observation_id"].nunique()),
        "forms": int(o[["observation_id", "observer_id"]].drop_duplicates().shape[0]),
        "item_scores": int(len(o)),
        "terms": len(ds.terms),
        "results_rows": int(len(ds.results)),
        "pupils_per_year": int(round(pr.groupby("school_year")["pupil_id"].nunique().mean())),
        "pupil_years": int(pr["school_year"].nunique()),
        "grade_rows": int(len(pr)),
        "pupil_files": [f.name for f in files],
        "pupil_file_mb": round(sum(f.stat().st_size for f in files) / 2**20, 1),
    }
    slim = dataclasses.replace(ds, pupil_results=None)
    with open(p.dataset, "wb") as fh:
        pickle.dump(slim, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {"counts": counts, "seconds": {"synth": t_synth, "write_sample": t_write,
                                          "write_pupil_files": t_pupils}}


# --------------------------------------------------------------------------- #
# the national file
# --------------------------------------------------------------------------- #
def national(scale: Scale, seed: int = 20) -> dict[str, Any]:
    """A national school-unit panel: schools, results, background and a quality index.

    Vectorised (no per-row Python), so that generating it costs far less than
    what is timed. Results follow Skolverket's publication: one decimal, ``..``
    below 10 pupils. Returns a dict with the canonical tables, the quality
    index (the columns of ``teaching_quality(ds).tidy()``) and the truth.
    """
    from undervisning_analys import schema

    rng = np.random.default_rng(seed)
    n_s, n_m, n_y = scale.national_schools, scale.national_municipalities, scale.national_years
    first = 2025 - n_y
    years = [f"{y}/{str(y + 1)[2:]}" for y in range(first, first + n_y)]
    munis = np.array([f"{k:04d}" for k in rng.choice(np.arange(114, 2600), n_m, replace=False)])
    muni_of = munis[rng.integers(0, n_m, n_s)]
    codes = np.array([f"{c:08d}" for c in rng.choice(np.arange(10_000_000, 99_999_999), n_s,
                                                     replace=False)])
    ptype = np.where(rng.random(n_s) < 0.2, "enskild", "kommunal")
    schools = pd.DataFrame({
        "school_id": codes, "school_name": [f"Skolenhet {c}" for c in codes],
        "municipality_id": muni_of, "municipality_name": [f"Kommun {m}" for m in muni_of],
        "principal_type": ptype, "area": None, "grades": "7-9"})
    z = rng.standard_normal(n_s)
    size9 = rng.integers(8, 160, n_s)
    a = 0.25 * (0.3 * z + np.sqrt(1 - 0.09) * rng.standard_normal(n_s))
    b = 0.04 + 0.08 * rng.standard_normal(n_s)
    yi = np.arange(n_y)
    S = np.repeat(np.arange(n_s), n_y)
    Y = np.tile(yi, n_s)
    high = 100 / (1 + np.exp(-(0.55 + 0.9 * z[S] + 0.05 * Y * rng.standard_normal(S.size))))
    foreign = 100 / (1 + np.exp(-(-0.9 - 0.9 * z[S] + 0.4 * rng.standard_normal(S.size))))
    girls = np.clip(49 + 2 * rng.standard_normal(S.size), 40, 60)
    quality_y = a[S] + b[S] * (Y + 0.25) + 0.04 * rng.standard_normal(S.size)
    lagged = np.where(Y > 0, np.roll(quality_y, 1), a[S] + b[S] * (Y - 0.75))
    n = np.maximum(3, (size9[S] * rng.uniform(0.9, 1.1, S.size)).round()).astype(int)
    merit = (229 + 0.9 * (high - 60) - 0.35 * (foreign - 25) + 25 * lagged
             + 25 * rng.standard_normal(S.size) / np.sqrt(n))
    rows = []
    for measure, value in (
            ("merit_17", merit), ("merit_16", merit * 0.95),
            ("pass_all_subjects_pct", np.clip(75 + 0.25 * (merit - 229), 0, 100)),
            ("eligible_vocational_pct", np.clip(85 + 0.2 * (merit - 229), 0, 100))):
        for group, share in (("all", 1.0), ("girls", girls / 100), ("boys", 1 - girls / 100)):
            ng = np.maximum(0, (n * share).round()).astype(int)
            v = np.round(value + (3 if group == "girls" else -3 if group == "boys" else 0), 1)
            suppressed = ng < 10
            rows.append(pd.DataFrame({
                "level": "school", "school_id": codes[S], "municipality_id": muni_of[S],
                "school_year": np.array(years)[Y], "measure": measure, "group": group,
                "principal_type": "all", "value": np.where(suppressed, np.nan, v),
                "n": ng, "status": np.where(suppressed, "suppressed", "ok"),
                "source": "synth-national"}))
    results = pd.concat(rows, ignore_index=True)
    results["n"] = results["n"].astype("Int64")
    background = pd.DataFrame({
        "level": "school", "school_id": codes[S], "municipality_id": muni_of[S],
        "school_year": np.array(years)[Y], "n_pupils": (n * 3).astype("int64"),
        "share_girls": girls.round(1), "share_foreign_background": foreign.round(1),
        "share_parents_higher_edu": high.round(1), "share_newly_arrived": np.nan})
    # teaching-quality index per school × term (as teaching_quality(ds).tidy() gives it)
    terms = [t for y in range(first, first + n_y) for t in (f"HT{y}", f"VT{y + 1}")]
    ST = np.repeat(np.arange(n_s), 2 * n_y)
    T = np.tile(np.arange(2 * n_y), n_s)
    q = a[ST] + b[ST] * T / 2 + 0.06 * rng.standard_normal(ST.size)
    se = rng.uniform(0.06, 0.2, ST.size)
    est = q + se * rng.standard_normal(ST.size)
    quality = pd.DataFrame({
        "level": "school", "unit": codes[ST], "term": np.array(terms)[T],
        "school_year": [schema.term_school_year(t) for t in np.array(terms)[T]],
        "dimension": "overall", "estimate": est, "se": se,
        "conf_low": est - 1.96 * se, "conf_high": est + 1.96 * se,
        "n_obs": rng.integers(5, 40, ST.size), "n_forms": rng.integers(6, 46, ST.size),
        "n_teachers": rng.integers(3, 25, ST.size), "n_observers": rng.integers(2, 5, ST.size),
        "reliability": 1 - se ** 2 / (se ** 2 + 0.25 ** 2), "suppressed": False,
        "suppression_reason": ""})
    return {"schools": schools, "results": results, "background": background,
            "quality": quality, "truth": {"effect_merit_per_quality": 25.0}}


def write_national(scale: Scale, root: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    nat = national(scale)
    with open(Paths(root).national, "wb") as fh:
        pickle.dump(nat, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {"seconds": time.perf_counter() - t0, "schools": len(nat["schools"]),
            "results_rows": len(nat["results"]), "years": scale.national_years}
