"""Observation exports from any form tool (issue 13, item 7).

Title rows above the header, two- and three-row headers (category, item, answer
options) flattened to one column per item, item columns named by their full question
text (through the protocol or the column file), columns derived from another column
or fixed for every row, protocols with several item scales (rated items in the index,
categorical items kept and summarised), teacher and observer names replaced by keyed
pseudonyms at read, and the real Teach export read with a protocol file and a column
file only.
"""

from __future__ import annotations

import copy
import csv
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_io_support import REAL, needs_real

from undervisning_analys import cli, load_instrument, synth
from undervisning_analys.dataset import Dataset
from undervisning_analys.errors import InstrumentError
from undervisning_analys.instruments import instrument_from_dict
from undervisning_analys.io import (
    load_column_spec,
    load_folder,
    read_observation_export,
    read_observations,
    summarise_categories,
)
from undervisning_analys.sample import write_sample

ROOT = Path(__file__).resolve().parents[1]
TEACH = REAL / "teach-peru" / "TEACH_Final_Scores_4 - Peru.csv"
TEACH_PROTOCOL = ROOT / "docs" / "exempel" / "teach" / "protokoll.yaml"
TEACH_COLUMNS = ROOT / "docs" / "exempel" / "teach" / "kolumner.yaml"
KEY = "nyckel för observatörer"

INST = load_instrument()
HEAD = ["Svars-ID", "Lektions-ID", "Datum", "Skolenhetskod", "Lärarkod", "Observatörskod",
        "Observatörens roll", "Typ av besök", "Ämne", "Årskurs"]
ITEMS = [f"{it.id}. {it.text}" for it in INST.items]


def rows(n: int = 6) -> list[list[str]]:
    """n forms: lessons LEK1.. (LEK2 observed twice: a paired observation)."""
    out = []
    for k in range(n):
        lesson = f"LEK{k + 1}" if k != n - 1 else "LEK2"
        scores = [str(1 + (k + j) % 4) for j in range(len(INST.items))]
        scores[k % len(scores)] = ""  # one unanswered item per form
        out.append([str(100 + k), lesson, f"2023-09-{10 + k}", "12345678", f"L{k % 3 + 1}",
                    f"O{k % 2 + 1}" if k != n - 1 else "O9", "Rektor", "Spontant besök",
                    "Matematik", "7", *scores])
    return out


def to_csv(table: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(table)
    return buf.getvalue()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8-sig")
    return path


def plain(tmp_path: Path) -> pd.DataFrame:
    return read_observations(write(tmp_path / "plain.csv", to_csv([HEAD + ITEMS, *rows()])))


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


# --------------------------------------------------------------------------
# Headers: title rows, two and three header rows
# --------------------------------------------------------------------------
def test_title_rows_above_the_header_in_a_workbook(tmp_path):
    ref = plain(tmp_path)
    p = tmp_path / "export.xlsx"
    table = [["Lektionsobservationer HT 2023"], ["Exporterad 2023-12-01 av formulärverktyget"],
             [], HEAD + ITEMS, *rows()]
    width = max(len(r) for r in table)
    pd.DataFrame([r + [None] * (width - len(r)) for r in table]).to_excel(
        p, index=False, header=False)
    got = read_observations(p)
    same_table(got, ref)
    # the index is the Excel row of each form: title rows 1-2, a blank row, the header on 4
    assert sorted(set(got.index)) == list(range(5, 11))
    notes = " | ".join(got.attrs["provenance"].notes)
    assert "rubrikraden är rad 4; 2 titelrader ovanför lästes inte som data" in notes


def test_two_row_header_categories_above_item_ids(tmp_path):
    ref = plain(tmp_path)
    cats = [""] * len(HEAD)
    for d in INST.dimensions:
        cats += [d.name] + [""] * (len(d.items) - 1)
    table = [cats, HEAD + [it.id for it in INST.items], *rows()]
    got = read_observations(write(tmp_path / "export.csv", to_csv(table, ";")))
    same_table(got, ref)
    assert "rubriken har 2 rader" in " | ".join(got.attrs["provenance"].notes)


def question(it) -> str:
    return f"How true is it? {it.text.upper()} (observer's judgement)"


def three_row_export(tmp_path: Path) -> tuple[Path, Path]:
    """A form tool's three-row header: category (with the lesson columns), the full
    question text, the answer options; the lesson columns under their own names."""
    desc = ["Svar", "Lektion", "Besöksdag", "Skola", "Lärare", "Observatör", "Roll",
            "Besökstyp", "Ämne", "Åk"]
    cats = list(desc)
    for d in INST.dimensions:
        cats += [d.name] + [""] * (len(d.items) - 1)
    questions = [""] * len(desc) + [question(it) for it in INST.items]
    options = [""] * len(desc) + ["Alternativ: 1, 2, 3, 4"] * len(INST.items)
    p = write(tmp_path / "export.csv", to_csv([cats, questions, options, *rows()]))
    spec = {"kolumner": {"Svar": None, "Besöksdag": "date", "Skola": "school_id",
                         "Åk": "grade_level", **{question(it): it.id for it in INST.items}}}
    k = tmp_path / "kolumner.yaml"
    k.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return p, k


def test_three_row_header_with_full_question_texts_through_the_column_file(tmp_path):
    ref = plain(tmp_path)
    p, k = three_row_export(tmp_path)
    got = read_observations(p, columns=k)
    same_table(got, ref)
    assert sorted(set(got.index)) == list(range(4, 10))  # data from line 4
    notes = " | ".join(got.attrs["provenance"].notes)
    assert "rubrikraden är rad 2" in notes and "rubriken har 3 rader" in notes
    assert "kolumner som inte används (och inte sparas): Svar" in notes
    # without the column file the questions are not known: refused naming one, and the
    # hint says how to map it to an item in kolumner.yaml
    with pytest.raises(Exception) as ei:
        read_observations(p)
    msg = str(ei.value)
    assert "kolumner som inte känns igen" in msg and "kolumner.yaml" in msg
    assert "KL1" in msg


def test_item_text_as_the_header_through_the_protocol(tmp_path):
    """The question text itself (as the protocol words it) names the item."""
    ref = plain(tmp_path)
    table = [HEAD + [it.text for it in INST.items], *rows()]
    same_table(read_observations(write(tmp_path / "e.csv", to_csv(table))), ref)


# --------------------------------------------------------------------------
# A column file: derived and fixed columns
# --------------------------------------------------------------------------
def test_derived_and_fixed_columns_from_the_column_file(tmp_path):
    ref = plain(tmp_path)
    table = [["Formulär", "Klipp", "Kodare", *ITEMS]]
    for r in rows():
        table.append([r[0], f"{r[3]}-{r[4]}-{r[1]}-{r[2]}", r[5], *r[10:]])
    p = write(tmp_path / "export.csv", to_csv(table))
    k = tmp_path / "kolumner.yaml"
    k.write_text(
        "kolumner:\n  Formulär: null\n  Klipp: observation_id\n  Kodare: observer_id\n"
        "härledda:\n"
        "  school_id: {kolumn: Klipp, mönster: '^(\\d{8})-'}\n"
        "  teacher_id: {kolumn: Klipp, mönster: '^\\d{8}-(L\\d+)-'}\n"
        "  date: {kolumn: Klipp, mönster: '(\\d{4}-\\d\\d-\\d\\d)$'}\n"
        "fasta:\n  observer_role: Rektor\n  observation_type: Spontant besök\n"
        "  subject: Matematik\n  grade_level: 7\n", encoding="utf-8")
    spec = load_column_spec(k)
    assert spec.derived["school_id"] == ("Klipp", "^(\\d{8})-")
    assert spec.constants["grade_level"] == "7"
    got = read_observations(p, columns=k)
    exp = ref.assign(observation_id=[f"{s}-{t}-{o}-{d:%Y-%m-%d}" for s, t, o, d in zip(
        ref["school_id"], ref["teacher_id"], ref["observation_id"], ref["date"],
        strict=True)])
    same_table(got, exp)


# --------------------------------------------------------------------------
# Protocols with several item scales
# --------------------------------------------------------------------------
def mixed_protocol() -> object:
    d = copy.deepcopy(INST.raw)
    d["id"] = "blandad"
    d["categorical_scales"] = {"ja_nej": {"J": "Ja", "N": "Nej"},
                               "lmh": {"L": "Låg", "M": "Medel", "H": "Hög"}}
    d["categorical_items"] = [
        {"id": "T1", "text": "Alla elever har en uppgift", "scale": "ja_nej"},
        {"id": "KLa", "text": "Eleverna kommer i tid", "scale": "lmh",
         "dimension": INST.dimensions[0].id}]
    d["unanswered"] = ["Inte sett", "?"]
    return instrument_from_dict(d, source="blandad.yaml")


CAT_ANSWERS = [("Ja", "H"), ("N", "m"), ("J", "?"), ("", "L"), ("nej", "Inte sett"),
               ("J", "Hög")]
CAT_CODES = [("J", "H"), ("N", "M"), ("J", None), (None, "L"), ("N", None), ("J", "H")]


def mixed_export(tmp_path: Path) -> Path:
    table = [HEAD + ITEMS + ["T1. Alla elever har en uppgift", "Eleverna kommer i tid"]]
    for r, (a, b) in zip(rows(), CAT_ANSWERS, strict=True):
        table.append(r + [a, b])
    return write(tmp_path / "observationer.csv", to_csv(table))


def test_categorical_items_are_kept_apart_and_summarised(tmp_path):
    ref = plain(tmp_path)
    inst = mixed_protocol()
    export = read_observation_export(mixed_export(tmp_path), inst)
    obs, cats = export.observations, export.categories
    # the rated items are exactly the plain export's; the index is not touched
    same_table(obs.drop(columns="instrument_id"), ref.drop(columns="instrument_id"))
    pd.testing.assert_frame_equal(inst.score(obs).drop(columns="instrument_id", errors="ignore"),
                                  INST.score(ref).drop(columns="instrument_id", errors="ignore"))
    # every categorical answer is kept: the protocol's code, or null when unanswered
    assert len(cats) == 2 * len(ref.drop_duplicates(["observation_id", "observer_id"]))
    got = [(a, b) for (_, a), (_, b) in zip(cats[cats["item_id"] == "T1"]["category"].items(),
                                             cats[cats["item_id"] == "KLa"]["category"].items(),
                                             strict=True)]
    assert [tuple(None if pd.isna(x) else x for x in g) for g in got] == CAT_CODES
    assert list(cats.index.unique()) == list(range(2, 8))
    notes = " | ".join(obs.attrs["provenance"].notes)
    assert "kategoriska påståenden (ingår inte i indexet): 2 påståenden, 9 svar, 3 obesvarade" \
        in notes
    # the summary: counts and shares of the answered
    s = summarise_categories(cats, inst).set_index(["item_id", "category"])
    assert s.loc[("T1", "J"), "n"] == 3 and s.loc[("T1", "N"), "n"] == 2
    assert s.loc[("T1", "J"), "share"] == pytest.approx(3 / 5)
    assert s.loc[("KLa", "M"), "n"] == 1 and s.loc[("KLa", "H"), "n"] == 2
    assert s.loc[("KLa", "L"), "label"] == "Låg"
    assert (s.loc["KLa", "n_unanswered"] == 2).all()
    assert s.loc[("KLa", "H"), "dimension"] == INST.dimensions[0].id
    # by school: 5 lessons and 3 teachers reach the floors; fewer are suppressed
    by_school = summarise_categories(cats, inst, by=("school_id",))
    assert not by_school["suppressed"].any()
    few = summarise_categories(cats[cats["observation_id"].isin(["LEK1", "LEK2"])], inst,
                               by=("school_id",))
    assert few["suppressed"].all() and few["n"].isna().all() and few["share"].isna().all()


def test_categorical_items_travel_with_the_dataset(tmp_path):
    inst = mixed_protocol()
    export = read_observation_export(mixed_export(tmp_path), inst)
    schools = pd.DataFrame({"school_id": ["12345678"], "school_name": ["Skolan"],
                            "municipality_id": ["1440"], "municipality_name": ["Ale"],
                            "principal_type": ["kommunal"]})
    from undervisning_analys import schema

    ds = Dataset.build(schools=schools, observations=export.observations,
                       results=schema.empty("results"), background=schema.empty("background"),
                       instrument=inst, observation_categories=export.categories)
    assert len(ds.observation_categories) == 12
    assert "Kategoriska påståenden (ingår inte i indexet): 2 påståenden, 9 svar, 3 obesvarade" \
        in ds.overview()


def test_a_categorical_answer_outside_the_scale_names_row_and_column(tmp_path):
    table = [HEAD + ITEMS + ["T1"]] + [r + ["J"] for r in rows()]
    table[4][-1] = "Kanske"
    p = write(tmp_path / "e.csv", to_csv(table))
    with pytest.raises(Exception) as ei:
        read_observation_export(p, mixed_protocol())
    e = ei.value
    assert e.row == 5 and e.column == "T1"
    assert "Kanske" in str(e) and "J (Ja), N (Nej)" in str(e) and "unanswered:" in str(e)


@pytest.mark.parametrize("change,message", [
    (lambda d: d["categorical_items"][0].update(scale="fem"), "skalan `fem`"),
    (lambda d: d["categorical_items"][1].update(dimension="okänd"), "dimensionen `okänd`"),
    (lambda d: d["categorical_scales"].update(ja={"J": "Ja"}), "minst två kategorier"),
    (lambda d: d["categorical_items"].append({"id": "KL1", "text": "x", "scale": "lmh"}),
     "`KL1` finns två gånger"),
    (lambda d: d["categorical_items"][0].pop("scale"), "saknar `id`, `text` eller `scale`"),
    (lambda d: d.update(unanswered="?"), "`unanswered` ska vara en lista"),
])
def test_protocol_errors_for_categorical_items(change, message):
    d = copy.deepcopy(mixed_protocol().raw)
    change(d)
    with pytest.raises(InstrumentError) as ei:
        instrument_from_dict(d, source="protokoll.yaml")
    assert message in str(ei.value) and "protokoll.yaml" in str(ei.value)


# --------------------------------------------------------------------------
# Names of teachers and observers: keyed pseudonyms at read
# --------------------------------------------------------------------------
NAMED = {"teacher": ["Anna Andersson", "Berg, Karin", "karin.berg@skolan.se"],
         "observer": ["Carolina", "Tamara"]}


def named_export(tmp_path: Path) -> Path:
    table = [HEAD + ITEMS]
    for r in rows():
        r = list(r)
        r[4] = NAMED["teacher"][int(r[4][1:]) - 1]
        r[5] = NAMED["observer"][int(r[5][1:]) - 1] if r[5] != "O9" else "O9"
        table.append(r)
    return write(tmp_path / "e.csv", to_csv(table))


def all_text(*frames: pd.DataFrame) -> str:
    return " ".join(" ".join(map(str, f.astype(str).to_numpy().ravel())) + " "
                    + " ".join(map(str, f.columns)) for f in frames)


def test_names_and_email_addresses_become_keyed_pseudonyms(tmp_path):
    p = named_export(tmp_path)
    ref = plain(tmp_path)
    got = read_observations(p, key=KEY)
    text = all_text(got) + " ".join(got.attrs["provenance"].notes)
    for name in [*NAMED["teacher"], *NAMED["observer"], "Anna", "Karin", "karin.berg"]:
        assert name.lower() not in text.lower(), name
    # the structure is kept: one pseudonym per person, the pair on LEK2 still a pair
    assert got["teacher_id"].nunique() == ref["teacher_id"].nunique() == 3
    assert got["observer_id"].nunique() == ref["observer_id"].nunique() == 3
    pairs = got.drop_duplicates(["observation_id", "observer_id"]).groupby("observation_id")
    assert (pairs.size() > 1).sum() == 1
    # the whole column is pseudonymised, the code O9 too; 20 hex digits as pupils' ids
    assert "O9" not in set(got["observer_id"])
    assert got["observer_id"].str.fullmatch(r"[0-9a-f]{20}").all()
    same_table(got.drop(columns=["teacher_id", "observer_id"]),
               ref.drop(columns=["teacher_id", "observer_id"]))
    # the same key gives the same pseudonyms, another key others
    assert read_observations(p, key=KEY)["observer_id"].tolist() == got["observer_id"].tolist()
    assert set(read_observations(p, key="en annan")["observer_id"]).isdisjoint(
        got["observer_id"])
    notes = " | ".join(got.attrs["provenance"].notes)
    assert "Lärarkod: namn eller e-postadresser på 6 rader" in notes


def test_the_respondents_email_as_the_observer_through_the_column_file(tmp_path):
    """A form tool that records who answered (an e-mail address) instead of an observer
    code: the column file names it the observer, and it is read as a pseudonym."""
    ref = plain(tmp_path)
    head = [h if h != "Observatörskod" else "E-postadress" for h in HEAD] + ITEMS
    table = [head] + [r[:5] + [f"{r[5].lower()}.rektor@skolan.se"] + r[6:] for r in rows()]
    p = write(tmp_path / "e.csv", to_csv(table))
    with pytest.raises(Exception) as ei:  # by default the respondent's e-mail is ignored
        read_observations(p, key=KEY)
    assert "Observatörskod" in str(ei.value) and "observer_id" in str(ei.value)
    got = read_observations(p, columns={"E-postadress": "observer_id"}, key=KEY)
    assert "rektor@skolan.se" not in all_text(got)
    assert got["observer_id"].nunique() == ref["observer_id"].nunique()
    same_table(got.drop(columns="observer_id"), ref.drop(columns="observer_id"))


def test_names_in_a_folder_never_reach_the_dataset(tmp_path, monkeypatch):
    ds0 = synth.municipality(seed=5, n_schools=3, n_years=1, pupils_per_grade=(10, 20))
    folder = tmp_path / "mapp"
    write_sample(ds0, folder)
    path = folder / "observationer.csv"
    table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    t_col, o_col = table[0].index("Lärarkod"), table[0].index("Observatörskod")
    teachers = sorted({r[t_col] for r in table[1:]})
    observers = sorted({r[o_col] for r in table[1:]})
    firsts = ["Sixten", "Hjördis", "Algot", "Ragnhild", "Evert", "Solveig", "Valdemar",
              "Gudrun", "Folke", "Tyra", "Holger", "Greta", "Edla", "Torbjörn", "Ingegerd"]
    lasts = ["Provsson", "Exempelberg", "Testlund"]
    t_names = {t: (f"{firsts[k % 15]} {lasts[k // 15]}" if k % 3 else
                   f"{firsts[k % 15].lower()}.{lasts[k // 15].lower()}@kommunen.se")
               for k, t in enumerate(teachers)}
    assert len(set(t_names.values())) == len(teachers) <= 45
    o_names = {o: ["Carolina", "Tamara", "Fatima", "Sergio", "Marta", "Gunnel", "Ture",
                   "Märta", "Ingrid", "Signe", "Alvar", "Elvy"][k] for k, o in enumerate(observers)}
    for r in table[1:]:
        r[t_col], r[o_col] = t_names[r[t_col]], o_names[r[o_col]]
    write(path, to_csv(table))
    ds = load_folder(folder, key=KEY)
    frames = [ds.observations, ds.schools, ds.results, ds.background, ds.provenance_table()]
    text = (all_text(*frames) + ds.overview() + " ".join(ds.checks)
            + " ".join(n for p in ds.provenance for n in p.notes)).lower()
    planted = [*t_names.values(), *o_names.values()]
    words = {w for n in planted for w in re.split(r"[ .@]", n.split("@")[0]) if w}
    for w in sorted(words | set(planted)):
        assert not re.search(rf"(?<![\w]){re.escape(w.lower())}(?![\w])", text), w
    assert ds.observations["observer_id"].nunique() == len(observers)
    assert ds.observations["teacher_id"].nunique() == len(teachers)
    # without a key the folder stops at the export, naming the rows and the fix
    monkeypatch.delenv("UA_PSEUDONYM_KEY", raising=False)
    with pytest.raises(Exception) as ei:
        load_folder(folder)
    assert "UA_PSEUDONYM_KEY" in str(ei.value) and "observationer.csv" in str(ei.value)


# --------------------------------------------------------------------------
# The real Teach export: a protocol file and a column file only
# --------------------------------------------------------------------------
def teach_rows() -> tuple[list[list[str]], list[list[str]]]:
    table = list(csv.reader(io.StringIO(TEACH.read_text(encoding="utf-8-sig"))))
    return table[:3], table[3:]


@needs_real
def test_teach_export_loads_with_a_protocol_and_a_column_file_only():
    export = read_observation_export(TEACH, TEACH_PROTOCOL, columns=TEACH_COLUMNS, key=KEY)
    obs, cats = export.observations, export.categories
    prov = obs.attrs["provenance"]
    head, data = teach_rows()
    inst = load_instrument(TEACH_PROTOCOL)
    # every data row is accounted for: kept as a form, or dropped and counted
    forms = obs.drop_duplicates(["observation_id", "observer_id"])
    assert prov.rows_read == len(data) == 362
    assert len(forms) + sum(prov.dropped.values()) == len(data)
    assert prov.dropped == {"identiska dubbletter av formulär (samma svar två gånger)": 1}
    assert set(obs["observation_id"]) == {r[1] for r in data}
    assert len(obs) == 9 * len(forms) and len(cats) == 34 * len(forms)
    seen: set[tuple[str, ...]] = set()
    first_copies = [k + 4 for k, r in enumerate(data)
                    if not (tuple(r) in seen or seen.add(tuple(r)))]  # the later copy dropped
    assert sorted(set(obs.index)) == first_copies and len(first_copies) == 361
    # every value equals the file's cell (rated: the number; categorical: the code or null)
    col = {c: j for j, c in enumerate(head[1])}
    by_line = {k + 4: r for k, r in enumerate(data)}
    rated = {"E1": "1. Supportive Learning Environment", "E5": "5. Feedback",
             "E9": "9. Social & Collaborative Skills"}
    for iid, text in rated.items():
        sub = obs[obs["item_id"] == iid]
        cells = [by_line[i][col[text]] for i in sub.index]
        want = [float(x) if x.strip() else np.nan for x in cells]
        np.testing.assert_array_equal(sub["score"].to_numpy(), want)
    unanswered = {"", "N/A", "NOT OBSERVED", "?", "H?", "M?"}
    for iid, j in (("TLB1", 4), ("TLB3", 8), ("E1d", 13), ("E9c", 45)):
        sub = cats[cats["item_id"] == iid]
        want = [None if by_line[i][j].strip() in unanswered else by_line[i][j].strip()
                for i in sub.index]
        assert [None if pd.isna(x) else x for x in sub["category"]] == want, iid
    assert set(cats["item_id"]) == set(inst.categorical_ids)
    # codes: the school code out of School_Clip (padded to eight digits), one teacher
    assert (obs["school_id"] == obs["observation_id"].str.extract(r"^(\d+)")[0]
            .str.zfill(8)).all()
    assert obs["school_id"].nunique() == 195
    # the scorers' first names are replaced by keyed pseudonyms
    names = {r[2].strip() for r in data}
    assert names == {"Carolina", "Tamara", "Fatima", "Marta", "Sergio"}
    text = all_text(obs, cats).lower() + " ".join(prov.notes).lower()
    assert not any(n.lower() in text for n in names)
    assert obs["observer_id"].nunique() == len(names)
    # double-coded lessons go to ua.agreement; this export has none (each clip one scorer)
    per_lesson = forms.groupby("observation_id")["observer_id"].nunique()
    assert (per_lesson > 1).sum() == 0


@needs_real
def test_teach_double_coded_clips_go_to_agreement(tmp_path):
    """A cut of the Teach export with a second scorer's copy of three clips: the pairs
    reach ``ua.agreement`` with the exact agreement the cells give."""
    import undervisning_analys as ua

    head, data = teach_rows()
    cut = [r for r in data if r[1].startswith(("256305 ", "1104488 ", "1304765 "))]
    second = []
    for k, r in enumerate(cut):
        r2 = list(r)
        r2[2] = "Tamara"
        if k == 0:
            r2[9] = str(int(r[9]) - 1)  # E1 one lower in the first clip
        second.append(r2)
    p = write(tmp_path / "teach_dubbelkodad.csv", to_csv([*head, *cut, *second]))
    obs = read_observations(p, TEACH_PROTOCOL, columns=TEACH_COLUMNS, key=KEY)
    forms = obs.drop_duplicates(["observation_id", "observer_id"])
    assert (forms.groupby("observation_id").size() == 2).sum() == len(cut) == 6
    res = ua.agreement(obs.dropna(subset=["score"]), targets=["observation_id", "item_id"],
                       raters="observer_id", ratings="score", scale=(1, 5))
    total = res.tidy().set_index("group").loc["Totalt"]
    n_pairs = int(obs.dropna(subset=["score"]).groupby(["observation_id", "item_id"])
                  .size().eq(2).sum())
    assert total["n_pairs"] == n_pairs == 54
    assert total["exact"] == pytest.approx((n_pairs - 1) / n_pairs)
    assert total["adjacent"] == pytest.approx(1.0)


@needs_real
def test_validera_reads_the_teach_export_from_the_command_line(capsys, monkeypatch):
    monkeypatch.setenv("UA_PSEUDONYM_KEY", KEY)
    code = cli.main(["validera", str(TEACH), "--protokoll", str(TEACH_PROTOCOL),
                     "--kolumner", str(TEACH_COLUMNS)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Rader med formulär: 362 lästa, 361 behållna" in out
    assert "1 ej behållna: identiska dubbletter av formulär" in out
    assert "Lektioner: 361 (0 med fler än en observatör: parobservationer), 195 lärare, " \
           "5 observatörer" in out
    assert "Kategoriska påståenden (ingår inte i indexet): 34" in out
    assert "TLA1 Läraren ger de flesta eleverna en lärandeaktivitet (bild 1): Ja " in out
    for name in ("Carolina", "Tamara", "Fatima", "Marta", "Sergio"):
        assert name not in out
    # without a key: status 2 and the fix in command-line terms
    monkeypatch.delenv("UA_PSEUDONYM_KEY")
    code = cli.main(["validera", str(TEACH), "--protokoll", str(TEACH_PROTOCOL),
                     "--kolumner", str(TEACH_COLUMNS)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Kolumnen Person to Score innehåller namn" in err and "rad 4" in err
    assert "export UA_PSEUDONYM_KEY=" in err and "Carolina" not in err


def test_validera_a_folder_with_an_explicit_column_file(tmp_path, capsys):
    ds0 = synth.municipality(seed=5, n_schools=3, n_years=1, pupils_per_grade=(10, 20))
    folder = tmp_path / "mapp"
    write_sample(ds0, folder)
    path = folder / "observationer.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").replace("Datum,", "Besöksdag,", 1),
                    encoding="utf-8-sig")
    k = tmp_path / "min_kolumnfil.yaml"
    k.write_text("kolumner:\n  Besöksdag: date\n", encoding="utf-8")
    assert cli.main(["validera", str(folder), "--kolumner", str(k)]) in (0, 1)
    assert "Mappen" in capsys.readouterr().out
    assert cli.main(["validera", str(folder)]) == 2
    assert "Besöksdag" in capsys.readouterr().err
    shutil.rmtree(folder)


def test_a_folder_keeps_the_categorical_answers_and_validera_summarises_them(tmp_path,
                                                                            capsys):
    ds0 = synth.municipality(seed=5, n_schools=3, n_years=1, pupils_per_grade=(10, 20))
    folder = tmp_path / "mapp"
    write_sample(ds0, folder)
    proto = copy.deepcopy(mixed_protocol().raw)
    (folder / "protokoll.yaml").write_text(yaml.safe_dump(proto, allow_unicode=True),
                                           encoding="utf-8")
    path = folder / "observationer.csv"
    table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    table[0].append("T1. Alla elever har en uppgift")
    for k, r in enumerate(table[1:]):
        r.append("Ja" if k % 4 else "Nej")
    write(path, to_csv(table))
    ds = load_folder(folder)
    cats = ds.observation_categories
    assert len(cats) == len(table) - 1 and set(cats["item_id"]) == {"T1"}
    n_no = sum(1 for k in range(len(table) - 1) if k % 4 == 0)
    assert (cats["category"] == "N").sum() == n_no
    assert set(cats["observation_id"]) == set(ds.observations["observation_id"])
    assert cli.main(["validera", str(folder)]) in (0, 1)
    out = capsys.readouterr().out
    share_no = round(100 * n_no / (len(table) - 1))
    assert "Så besvarades de kategoriska påståendena" in out
    assert f"T1 Alla elever har en uppgift: Ja {100 - share_no} %, Nej {share_no} % " \
           f"({len(table) - 1} svar)" in out


def test_categorical_items_in_a_long_export(tmp_path):
    """Long format (one row per item): the rows of categorical items go to the categories,
    the rated rows to the scores; an unknown answer is refused with its row."""
    inst = mixed_protocol()
    head = ["Lektions-ID", "Datum", "Skolenhetskod", "Lärarkod", "Observatörskod",
            "Observatörens roll", "Typ av besök", "Påstående", "Poäng"]
    base = ["LEK1", "2023-10-02", "12345678", "L1", "O1", "Rektor", "Planerat besök"]
    table = [head] + [base + [it.id, "3"] for it in INST.items] + [
        base + ["T1", "Ja"], base + ["Eleverna kommer i tid", "?"]]
    p = write(tmp_path / "lang.csv", to_csv(table, ";"))
    export = read_observation_export(p, inst)
    assert len(export.observations) == len(INST.items)
    assert (export.observations["score"] == 3).all()
    cats = export.categories
    assert list(cats["item_id"]) == ["T1", "KLa"] and list(cats.index) == [14, 15]
    assert cats["category"].iloc[0] == "J" and pd.isna(cats["category"].iloc[1])
    table[-2][-1] = "Kanske"
    with pytest.raises(Exception) as ei:
        read_observation_export(write(tmp_path / "lang2.csv", to_csv(table, ";")), inst)
    assert ei.value.row == 14 and ei.value.column == "Poäng"
    assert "påstående T1" in str(ei.value) and "J (Ja), N (Nej)" in str(ei.value)
