# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TODAY := $(shell date +%Y%m%d)
YESTERDAY := $(shell date -d yesterday +%Y%m%d)
YESTERDAY_ISO := $(shell date -d yesterday +%Y-%m-%d)
DEMO := demo-output

.PHONY: demo test lint services bench clean

# The compiled kernel (humgen_storage/_kernel.c) needs a C compiler and the Python
# headers; without them the package installs and runs the numpy path, saying so.
$(STAMP): setup.cfg pyproject.toml setup.py $(wildcard humgen_storage/_kernel*.c)
	@command -v gcc >/dev/null && $(PYTHON) -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
		|| (apt-get update -q && apt-get install -y -q gcc python3-dev)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The whole pipeline on the embedded default: SQLite, an LDIF directory, fixture crawls
# of two volumes (copied under today's date so the managers find them), the lfs
# stand-in. The split is not uploaded: the demo has no S3.
DEMO_RUN := FAKE_LFS_QUOTAS=fixtures/demo-quotas.json $(BIN)/humgen-storage --config fixtures/demo.ini
TAB := $(shell printf '\t')

demo: $(STAMP)
	rm -rf $(DEMO)
	mkdir -p $(DEMO)/mpistat $(DEMO)/archive/projects/tol $(DEMO)/archive/old-team-data
	touch $(DEMO)/archive/projects/tol/.imirrored
	@# Two nights: the fixture crawls yesterday, and today the same with a planted
	@# change on volume 118 (fixtures/plant_change.py), for `changes` and the HTML report.
	for f in fixtures/mpistat/*.dat.gz; do cp "$$f" "$(DEMO)/mpistat/$(YESTERDAY)_$${f##*_}"; cp "$$f" "$(DEMO)/mpistat/$(TODAY)_$${f##*_}"; done
	$(BIN)/python fixtures/plant_change.py $(DEMO)/mpistat/$(TODAY)_118.dat.gz
	@# cellgen's quota look-up fails on purpose: the report publishes and exits 3 (degraded).
	$(DEMO_RUN) manage report --date $(YESTERDAY_ISO) || [ $$? -eq 3 ]
	$(DEMO_RUN) manage inspect --date $(YESTERDAY_ISO) > /dev/null
	$(DEMO_RUN) manage report || [ $$? -eq 3 ]
	$(DEMO_RUN) manage inspect > /dev/null
	$(DEMO_RUN) split --no-upload
	$(DEMO_RUN) html -o $(DEMO)/html > /dev/null
	@# A picture of the overview, when a Chromium is installed (tests/services/install.sh).
	-command -v chromium >/dev/null && chromium --headless --no-sandbox --disable-gpu --no-first-run \
	  --disable-background-networking --disable-component-update --disable-sync \
	  --user-data-dir=$(DEMO)/.chromium --window-size=1100,1500 --hide-scrollbars \
	  --screenshot=$(DEMO)/html-report.png file://$(CURDIR)/$(DEMO)/html/index.html 2>/dev/null
	@echo
	@echo "== report: $(DEMO)/reports/report-output-files/report-$(TODAY).tsv (also table lustre_usage)"
	@column -t -s "$(TAB)" $(DEMO)/reports/report-output-files/report-$(TODAY).tsv
	@echo
	@echo "== inspect: $(DEMO)/reports/report-output-files/inspector-$(TODAY).tsv (also table spaceman)"
	@column -t -s "$(TAB)" $(DEMO)/reports/report-output-files/inspector-$(TODAY).tsv
	@echo
	@echo "== split: $(DEMO)/groups/$(TODAY)/"
	@ls $(DEMO)/groups/$(TODAY)/
	@column -t -s "$(TAB)" $(DEMO)/groups/$(TODAY)/index.txt
	@echo
	@echo
	@echo "== changes: yesterday to today (humgen-storage changes)"
	@$(DEMO_RUN) changes
	@echo
	@echo "== HTML report: $(DEMO)/html/index.html (screenshot: $(DEMO)/html-report.png)"
	@echo
	@echo "Database: $(DEMO)/humgen_storage.db (SQLite); configuration: fixtures/demo.ini"

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
