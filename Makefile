# make test   - create .venv if missing, install the pinned dependencies, run every test
# make demo   - release, a sample class of 45 students, autograde in parallel, feedback, grades.csv, summary
# make examples - check the bundled example submissions (complete, partial) with the student's checker
# make release - rebuild the generated cells of source/ and nbgrader generate_assignment into release/
# make bench  - speed ladder, checker wall time, speed-bar margins, confinement cost, mutation score (figures)
# make mutants - mutants of every reference solution through the checker: killed, survived, equivalent, the score
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo examples bench mutants release sync clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0 numpy
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[course,dev,scale]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15

demo: $(STAMP)
	$(BIN)/python -m instructor demo

examples: $(STAMP)
	$(BIN)/python -m tests.demo

release: $(STAMP)
	$(BIN)/python -m instructor sync
	$(BIN)/python -m instructor release

sync: $(STAMP)
	$(BIN)/python -m instructor sync

bench: $(STAMP)
	$(BIN)/python -m tests.bench

mutants: $(STAMP)
	$(BIN)/python -m tests.mutants

clean:
	rm -rf $(VENV) build *.egg-info
