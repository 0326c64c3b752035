# The course's commands. `make book` and `make test` are all a fresh machine needs
# (plus Chromium from the system package manager for the browser checks: see README.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PORT ?= 8000
SUBMISSIONS ?= submissions
OUT ?= grading-out

.PHONY: venv book test release grade serve bench bench-grading bench-cluster lint format clean

# (Re)create the virtual environment when it is missing or requirements.txt / pyproject.toml changed.
$(STAMP): requirements.txt pyproject.toml
	@if [ -d $(VENV) ] && [ ! -x $(BIN)/python ]; then rm -rf $(VENV); fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

venv: $(STAMP)

# Build the website into _build/html, executing the chapters; any warning is an error.
book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going --builder html

# Lint, then the whole test suite (website build and browser checks included).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# Regenerate exercises/ (the student release) from solutions/ (the instructor's source).
release: $(STAMP)
	$(BIN)/python -m autograder release

# Grade a folder or LMS zip of submissions: make grade SUBMISSIONS=path OUT=path
grade: $(STAMP)
	$(BIN)/python -m autograder grade $(SUBMISSIONS) --out $(OUT) --jobs $(JOBS)

# Serve the built website on http://localhost:$(PORT)
serve: $(STAMP)
	@[ -f _build/html/index.html ] || $(MAKE) book
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

# Figures, not tests: each chapter's execution time.
bench: $(STAMP)
	$(BIN)/python benchmarks/chapter_times.py

# Figures, not tests: one batch graded by stock nbgrader and by ours (throughputs, grades compared).
bench-grading: $(STAMP)
	$(BIN)/python benchmarks/grading_throughput.py

# Figures, not tests: one batch graded by the local pool and on a local Dask cluster of 1 and 2
# worker processes (throughputs, outputs compared).
bench-cluster: $(STAMP)
	$(BIN)/python benchmarks/cluster_throughput.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf _build
