# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TODAY := $(shell date +%Y%m%d)
DEMO := demo-output

.PHONY: demo test lint services bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Run the report on the embedded default: SQLite, an LDIF directory, fixture crawls
# of two volumes (copied under today's date so the manager finds them), the lfs stand-in.
demo: $(STAMP)
	rm -rf $(DEMO)
	mkdir -p $(DEMO)/mpistat $(DEMO)/archive/projects/tol $(DEMO)/archive/old-team-data
	touch $(DEMO)/archive/projects/tol/.imirrored
	for f in fixtures/mpistat/*.dat.gz; do cp "$$f" "$(DEMO)/mpistat/$(TODAY)_$${f##*_}"; done
	FAKE_LFS_QUOTAS=fixtures/demo-quotas.json $(BIN)/humgen-storage --config fixtures/demo.ini manage report
	@echo
	@echo "== $(DEMO)/reports/report-output-files/report-$(TODAY).tsv"
	@column -t -s "$$(printf '\t')" $(DEMO)/reports/report-output-files/report-$(TODAY).tsv
	@echo
	@echo "Database: $(DEMO)/humgen_storage.db (table lustre_usage); config: fixtures/demo.ini"

# Install what is missing (slapd, a MariaDB server when none answers), lint, run every test.
test: $(STAMP) services lint
	$(BIN)/pytest -q

services:
	bash tests/services/install.sh

lint: $(STAMP)
	$(BIN)/ruff check humgen_storage tests bench fixtures/make_fixtures.py
	$(BIN)/ruff format --check humgen_storage tests bench fixtures/make_fixtures.py
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py --lines 5000000

clean:
	rm -rf $(VENV) $(DEMO) bench/data .pytest_cache .mypy_cache .ruff_cache
