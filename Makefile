# The two commands: `make book` builds the book, `make test` runs every test. Both create the
# virtual environment .venv and install requirements.txt into it first if needed.
PYTHON ?= python3
# PyTorch's default index serves Linux users its CUDA build (several GB). To get the CPU build:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(shell find chapters -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -not -path 'chapters/assignments/*' | sort)

.PHONY: book student-book test test-foreign execute classify refresh test-seeds ledger lab clean assignments grade

$(STAMP): requirements.txt code/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "This course needs Python 3.11 or newer (its pinned numpy and scikit-learn do); $(PYTHON) is " + sys.version.split()[0] + ". Run make with PYTHON=python3.11 (or newer).")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements.txt
	touch $(STAMP)

## book: build the HTML book into _build/html from the outputs stored in the notebooks; first the
## assignment pages (the student version of each master, in assignments/; never the solutions);
## then the Chinese edition from locales/zh_CN into _build/html/zh_CN, after refreshing its notebooks
## for the launch buttons (locales/zh_CN/notebooks: commit them; see locales/README.md)
book: $(STAMP)
	$(BIN)/python tools/book_editions.py pages
	$(BIN)/jupyter-book build . --keep-going -W -n
	$(BIN)/python tools/i18n.py notebooks
	$(BIN)/python tools/i18n.py build

## student-book: the same book with every exercise solution removed, into _build/student/html
student-book: $(STAMP)
	$(BIN)/python tools/book_editions.py student

## test: unit tests, the book build (warnings as errors) and nbval over every notebook, spread
## over the machine's cores (at most 4 workers; WORKERS=0 runs everything in one process).
## --dist loadfile keeps each file, so each notebook's cells, on one worker, in order.
WORKERS ?= auto
test: $(STAMP)
	@test -x /usr/bin/chromium || echo "make test: /usr/bin/chromium is not installed, so the browser test"\
		"(tests/test_browser.py) is SKIPPED; install it with: apt-get install chromium"
	$(BIN)/python -m pytest -n $(WORKERS) --maxprocesses 4 --dist loadfile

## test-foreign: the same suite under numerics that differ from this machine's own (torch's generic
## kernels instead of the CPU's vector units, MKL and oneDNN limited to SSE4: what another CPU
## changes), so anyone can check before pushing that the tests pass on a reader's machine
test-foreign: $(STAMP)
	env $$($(BIN)/python tests/provenance.py --env) $(MAKE) --no-print-directory test

## execute: re-run notebooks in place, each in a fresh kernel on this machine's own numerics, and
## record what each was executed from (NB=path to do just one). Then run classify (or use refresh).
# notebooks executed at once by execute/classify/refresh/test-seeds: each kernel uses one thread
JOBS ?= 2
execute: $(STAMP)
	$(BIN)/python tests/execute.py -j $(JOBS) $(or $(NB),$(NOTEBOOKS))

## classify: re-execute notebooks under other numerics and store in each which cells' outputs
## depend on rounding (checked for shape, not digits, on other machines)
classify: $(STAMP)
	$(BIN)/python tests/execute.py -j $(JOBS) --classify $(or $(NB),$(NOTEBOOKS))

## refresh: after changing a chapter or code/: execute, classify and record the ledger, in one go
## per notebook (NB=path for one). Commit the notebooks and chapters/ledger.{json,md}.
refresh: $(STAMP)
	$(BIN)/python tests/execute.py -j $(JOBS) --refresh $(or $(NB),$(NOTEBOOKS))

## test-seeds: re-run every notebook at its stored seed, under NORMRES_SEED=1..5 and under foreign
## numerics; every claim must hold, and each one's values go into the ledger of claims
## (chapters/ledger.json, rendered as the page chapters/ledger.md). NB=path re-runs one notebook and
## keeps the others' rows.
test-seeds: $(STAMP)
	$(BIN)/python tests/execute.py -j $(JOBS) --ledger chapters/ledger.json --check-seeds 1 2 3 4 5 -- $(or $(NB),$(NOTEBOOKS))

## ledger: the same as test-seeds (the one command that regenerates the ledger of claims)
ledger: test-seeds

## lab: open the notebooks in JupyterLab
lab: $(STAMP)
	$(BIN)/jupyter lab chapters

## assignments: student notebooks + autograder zips from the masters in chapters/assignments, into
## _build/assignments (otter assign; fails if a master's solutions fail their own tests)
assignments: $(STAMP)
	$(BIN)/python tools/assignments.py build

## grade: grade submissions locally: make grade A=<assignment> SUB=<notebook or folder of notebooks>
## [J=<submissions at once, default every core>]; student code runs only inside bubblewrap (bwrap):
## without it grading refuses, unless UNSANDBOXED=1 (no isolation; every report says so)
grade: $(STAMP)
	@test -n "$(A)" -a -n "$(SUB)" || { echo "usage: make grade A=<assignment> SUB=<notebook or folder> [J=N] [UNSANDBOXED=1]"; exit 2; }
	$(BIN)/python tools/assignments.py grade $(A) $(SUB) $(if $(J),-j $(J)) $(if $(UNSANDBOXED),--unsandboxed)

clean:
	rm -rf _build
