"""The layout of the plan and dialogue-notes workbooks (and their YAML form).

One place for sheet names, column headings and Swedish vocabularies, shared
by the writer (:mod:`undervisning_analys.plans.mall`) and the reader
(:mod:`undervisning_analys.io.plans`), so that what ``mall`` writes is what
``load_folder`` reads back.

File names in an input folder: ``plan*.xlsx`` / ``plan*.yaml`` (a school's
or the organiser's plan) and ``dialog*.xlsx`` / ``dialog*.yaml`` (notes from
a quality dialogue).
"""

from __future__ import annotations

PLAN_PREFIX = "plan"
NOTES_PREFIX = "dialog"

SHEET_INSTRUCTIONS = "Instruktioner"
SHEET_PLAN = "Plan"
SHEET_TARGETS = "Mål"
SHEET_LESSONS = "Lektionsbesök"
SHEET_ACTIONS = "Åtgärder"
SHEET_BASELINE = "Nuläge"
SHEET_LISTS = "Listor"

SHEET_DIALOGUE = "Dialog"
SHEET_AGREEMENTS = "Överenskommelser"
SHEET_QUESTIONS = "Frågor"

# "Plan" sheet: labels in column A, values in column B
PLAN_FIELDS = {
    "Skolenhetskod": "school_id",
    "Skola": "school_name",
    "Huvudman": "organiser",
    "Planens id": "plan_id",
    "Första termin": "period_start",
    "Sista termin": "period_end",
}

TARGET_COLUMNS = ["Mål-id", "Typ", "Avser", "Utgångsläge", "Utgångstermin", "Målvärde",
                  "Målterm", "Tjänar huvudmannens mål", "Kommentar"]
TARGET_KEYS = ["target_id", "kind", "target_of", "baseline", "baseline_term", "target",
               "target_term", "serves", "comment"]

KIND_SV = {"dimension": "dimension", "påstående": "item", "resultat": "result"}
"""Swedish target types in the workbook -> ``plans.kind``."""
KIND_LABEL = {v: k for k, v in KIND_SV.items()}

LESSON_COLUMNS = ["Besökstyp", "Planerade lektioner per termin",
                  "Observerade per termin senaste läsåret"]
VISIT_SV = {"Spontant besök": "spontan", "Planerat besök": "planerad",
            "Kollegial observation": "kollegial", "Parobservation": "par"}
VISIT_LABEL = {v: k for k, v in VISIT_SV.items()}

SHEET_NEEDS = "Besöksbehov"
"""Lessons per term a level and a change need (written by ``mall``, not read back)."""
NEEDS_COLUMNS = ["Mål", "Lektionsbesök per termin som behövs", "Reliabilitet då", "Styrka då",
                 "Lektionsbesök per termin nu", "Reliabilitet nu", "Styrka nu",
                 "Högsta möjliga reliabilitet", "Högsta möjliga styrka"]

ACTION_COLUMNS = ["Åtgärd-id", "Åtgärd", "Beskrivning", "Källa", "Väljs"]
OWN_ACTIONS = 5
YES_NO = ["ja", "nej"]

DIALOGUE_FIELDS = {"Skolenhetskod": "school_id", "Skola": "school_name",
                   "Datum för dialogen": "dialogue_date"}
AGREEMENT_COLUMNS = ["Överenskommelse", "Ansvarig roll", "Följs upp senast", "Status",
                     "Avser (mål-id, dimension eller mått)"]
QUESTION_COLUMNS = ["Fråga", "Underlag", "Diskuterades", "Anteckning"]
STATUS_SV = {"ej påbörjad": "ej_paborjad", "pågår": "pagar", "genomförd": "genomford",
             "ställs in": "stalls_in"}
OWNER_ROLES = ["rektor", "biträdande rektor", "förstelärare", "arbetslag", "elevhälsoteam",
               "skolchef", "kvalitetsutvecklare", "annan"]

MAX_TARGET_ROWS = 30
MAX_AGREEMENT_ROWS = 20
TERMS_AHEAD = 6
"""A target term may lie at most this many terms (three school years) after the data."""
MAX_LESSONS = 500
