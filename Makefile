# Two commands (see README):
#   make rapporter   – the main job: all reports for the sample municipality
#   make test        – the whole test suite
# Both create and reuse a local virtual environment in .venv.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: rapporter test sample lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

rapporter: $(STAMP)
	$(BIN)/undervisning-analys rapporter data/sample --ut rapporter

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

sample: $(STAMP)
	$(BIN)/python scripts/make_sample.py

lint: $(STAMP)
	$(BIN)/ruff check undervisning_analys tests benchmarks scripts
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) rapporter .pytest_cache .mypy_cache .ruff_cache
