# The two commands: `make book` builds the book, `make test` runs every test. Both create the
# virtual environment .venv and install requirements.txt into it first if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(shell find chapters -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)

.PHONY: book test execute test-seeds lab clean

$(STAMP): requirements.txt code/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

## book: build the HTML book into _build/html from the outputs stored in the notebooks
book: $(STAMP)
	$(BIN)/jupyter-book build . --keep-going -W -n

## test: unit tests, the book build (warnings as errors) and nbval over every notebook
test: $(STAMP)
	$(BIN)/python -m pytest

## execute: re-run notebooks in place, each in a fresh kernel (NB=path to do just one)
execute: $(STAMP)
	$(BIN)/python tests/execute.py $(or $(NB),$(NOTEBOOKS))

## test-seeds: re-run every notebook under NORMRES_SEED=1,2,3; every assert must still hold
test-seeds: $(STAMP)
	$(BIN)/python tests/execute.py --check-seeds 1 2 3 -- $(or $(NB),$(NOTEBOOKS))

## lab: open the notebooks in JupyterLab
lab: $(STAMP)
	$(BIN)/jupyter lab chapters

clean:
	rm -rf _build
