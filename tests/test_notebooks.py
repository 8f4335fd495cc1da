"""The four notebooks: committed without outputs, and they run from start to end.

Each notebook is executed with papermill on the kernel ``python3`` (the
Makefile installs the virtual environment's kernel under that name), in a
temporary folder, and the test checks what it produced: the printed
overview, the school report for the school passed as a parameter, the
municipality report and the exported tidy tables.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_kom_igang", "02_skolans_kvalitetsdialog", "03_kommunoversikt", "04_for_forskare"]
#: Notebooks beside the reports (no report folder to write).
MEASUREMENT = ["05_matkvalitet"]


def _outputs(nb: dict) -> tuple[str, list[dict]]:
    text, errors = [], []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream" and out["name"] == "stdout":
                text.append("".join(out["text"]))
            elif out["output_type"] == "error":
                errors.append(out)
            elif "text/plain" in out.get("data", {}):
                text.append("".join(out["data"]["text/plain"]))
    return "\n".join(text), errors


_DRAWS = re.compile(r"\bplots\.\w+\(|\.plot\(|\bplt\.|\bmunicipality_chart\(")


def _draws(cell: dict) -> bool:
    """A code cell that draws a chart (the package's plots, a result's .plot, pyplot)."""
    return cell["cell_type"] == "code" and bool(_DRAWS.search("".join(cell["source"])))


def _missing_images(nb: dict) -> list[str]:
    """The source of every drawing cell that shows no image."""
    return ["".join(c["source"])[:80] for c in nb["cells"] if _draws(c)
            and not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]


def execute(name: str, tmp_path: Path, **parameters) -> tuple[str, Path]:
    papermill = pytest.importorskip("papermill")
    out = tmp_path / f"{name}.out.ipynb"
    # the kernel inherits the environment: with conftest's MPLBACKEND=Agg it would draw
    # without showing anything; a user's Jupyter uses the inline backend
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out),
                                   parameters=parameters, kernel_name="python3",
                                   cwd=str(tmp_path), progress_bar=False)
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    nb = json.loads(out.read_text(encoding="utf-8"))
    text, errors = _outputs(nb)
    assert not errors, errors
    # every chart is shown (the package's style context once switched interactive mode
    # off in Jupyter, so only the first chart of a notebook appeared)
    assert any(_draws(c) for c in nb["cells"]) or name == "04_for_forskare"
    assert not _missing_images(nb), _missing_images(nb)
    return text, tmp_path


def test_style_context_keeps_interactive_mode_switched_on_inside():
    """What Jupyter's inline backend does when pyplot is first imported in the style."""
    import matplotlib

    from undervisning_analys import plots

    before, size = matplotlib.is_interactive(), matplotlib.rcParams["font.size"]
    try:
        matplotlib.interactive(False)
        with plots._style():
            assert matplotlib.rcParams["font.size"] == plots.STYLE["font.size"]
            matplotlib.interactive(True)
        assert matplotlib.is_interactive()
        assert matplotlib.rcParams["font.size"] == size     # the style itself is undone
        with plots._style():
            matplotlib.interactive(False)
        assert not matplotlib.is_interactive()
    finally:
        matplotlib.interactive(before)


def test_a_cell_without_its_chart_is_caught():
    nb = {"cells": [{"cell_type": "code", "source": ["ax = plots.funnel(res)"],
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}]},
                    {"cell_type": "code", "source": ["x = 1"], "outputs": []},
                    {"cell_type": "code", "source": ["ax = r.plot()"],
                     "outputs": [{"output_type": "display_data",
                                  "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}}]}]}
    assert _missing_images(nb) == ["ax = plots.funnel(res)"]


@pytest.mark.parametrize("name", NAMES + MEASUREMENT)
def test_committed_without_outputs(name):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    markdown = " ".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert any(w in markdown for w in (" och ", " att ", " för ")), "markdown in Swedish"


def test_parameters_cells_are_tagged():
    for name in NAMES[1:]:
        nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
        tagged = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1, name
    papermill = pytest.importorskip("papermill")
    found = papermill.inspect_notebook(str(NOTEBOOKS / "02_skolans_kvalitetsdialog.ipynb"))
    assert {"school_id", "data_folder", "out_dir"} <= set(found)
    for name in NAMES[2:]:
        assert {"data_folder", "out_dir"} <= set(
            papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb")))
    for name in MEASUREMENT:
        nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
        tagged = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1, name
        assert "data_folder" in papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))


@pytest.mark.slow
def test_01_kom_igang(tmp_path):
    text, _ = execute("01_kom_igang", tmp_path)
    assert "Datamängd: 20 skolenheter (Exempelkommun)" in text
    assert "Lektionsobservationer:" in text and "Grunddimensioner" in text


@pytest.mark.slow
def test_02_skolans_kvalitetsdialog(tmp_path):
    import undervisning_analys as ua

    ds = ua.load_sample()
    names = dict(zip(ds.schools["school_id"], ds.schools["school_name"]))
    school_id = sorted(names, key=lambda s: names[s])[3]
    text, folder = execute("02_skolans_kvalitetsdialog", tmp_path, school_id=school_id,
                           out_dir="ut")
    assert f"{names[school_id]} ({school_id})" in text
    assert "Fråga" in text and "Underlag" in text  # the dialogue questions, in Swedish
    assert "share_teachers_observed" not in text and "quality_change" not in text
    report = folder / "ut" / f"skola_{school_id}.html"
    assert report.exists()
    html = report.read_text(encoding="utf-8")
    assert names[school_id] in html and "Frågor till dialogen" in html


@pytest.mark.slow
def test_03_kommunoversikt(tmp_path):
    text, folder = execute("03_kommunoversikt", tmp_path, out_dir="ut")
    assert "(20 skolrapporter)" in text
    assert (folder / "ut" / "kommun.html").exists() and (folder / "ut" / "index.html").exists()
    assert len(list((folder / "ut").glob("skola_*.html"))) == 20
    # the report's tables in Swedish, not the tidy tables' programmer names
    assert "Samlat index" in text and "95 % KI" in text and "Trend per läsår" in text
    assert "municipality_trend" not in text and "conf_low" not in text


def test_notebooks_for_rektorer_and_skolchefer_filter_no_tables_by_hand():
    """The rektor's and skolchef's notebooks call helpers; no pandas filtering in sight."""
    filtering = re.compile(r"\[[^\]\n]*(==|!=|\.isin\()|\.query\(|\.loc\[")
    for name in ("01_kom_igang", "02_skolans_kvalitetsdialog", "03_kommunoversikt"):
        nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
        code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
        assert not [c for c in code if filtering.search(c)], name


@pytest.mark.slow
def test_04_for_forskare(tmp_path):
    from undervisning_analys import privacy

    text, folder = execute("04_for_forskare", tmp_path, out_dir="ut")
    assert "(1 + time | school_id)" in text          # the model specification
    assert "Korrelation mellan indexen" in text      # dropping an observer
    for name in ("undervisningskvalitet", "resultat_justerade", "samband"):
        csv = pd.read_csv(folder / "ut" / f"{name}.csv", dtype=str)
        pq = pd.read_parquet(folder / "ut" / f"{name}.parquet")
        assert len(csv) == len(pq) > 0
        privacy.assert_no_teacher_columns(pq)
    q = pd.read_parquet(folder / "ut" / "undervisningskvalitet.parquet")
    few = (q["n_teachers"] < privacy.MIN_TEACHERS) | (q["n_obs"] < privacy.MIN_OBS)
    assert q.loc[few, "estimate"].isna().all()
    r = pd.read_parquet(folder / "ut" / "resultat_justerade.parquet")
    assert r.loc[r["n"].astype("Float64") < privacy.MIN_PUPILS, "observed"].isna().all()


@pytest.mark.slow
def test_05_matkvalitet(tmp_path):
    text, _ = execute("05_matkvalitet", tmp_path)
    assert "Bedömarnas förändring över tid" in text                 # rater drift
    assert "Samstämmighet i parobservationer, påstående för påstående" in text
    assert "Förslag: parobservationer nästa termin" in text
    assert "reliabilitet 0,70 för förändringen (trend över 3 läsår)" in text  # change planner
    assert "aldrig skillnaden mellan två terminer" in text
    assert "Korrigerat för indexets kända mätfel (regressionskalibrering)" in text  # the link
    assert "Fungerar påståendena likadant" in text                  # DIF
    assert "teacher_id" not in text
