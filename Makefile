# bcpages: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
PY := $(VENV)/bin/python
# Django 6 needs Python 3.12+: `make test-django6` runs the suite there (CI does).
# (pyenv's shim for python3.12 exists but refuses to run unless 3.12 is selected,
# so the interpreter inside pyenv's versions comes first.)
PYTHON312 ?= $(shell ls $$HOME/.pyenv/versions/3.12.*/bin/python3.12 2>/dev/null | tail -n 1 || true)$(if $(wildcard $(HOME)/.pyenv/versions/3.12.*),,$(shell python3.12 -V >/dev/null 2>&1 && command -v python3.12))
VENV312 ?= .venv312
PYTEST_ARGS ?=

.PHONY: demo test test-postgres test-django6 install chromium migrate bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Browser tests drive Debian's Chromium (Playwright's own browser download does not work here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

migrate: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo_data --if-empty
	@echo "Serving the demo on http://127.0.0.1:$(PORT)/ (Daphne, embedded worker, SQLite)"
	$(PY) manage.py runserver 127.0.0.1:$(PORT) --noreload

# The whole suite on SQLite, then the tests marked `postgres` again on PostgreSQL
# (127.0.0.1:5432, trust auth; skipped with a reason where there is none, but not in CI).
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/bcpages

test: $(VENV)/.installed chromium
	$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-postgres

test-postgres: $(VENV)/.installed
	@$(PY) -m tests.services postgres "$(POSTGRES_URL)"; status=$$?; \
	if [ $$status -eq 0 ]; then DATABASE_URL="$(POSTGRES_URL)" $(PY) -m pytest -m postgres $(PYTEST_ARGS); \
	elif [ $$status -eq 1 ]; then echo "SKIPPED: PostgreSQL tests (no server at $(POSTGRES_URL))"; \
	else exit $$status; fi

$(VENV312)/.installed: pyproject.toml
	@test -n "$(PYTHON312)" || { echo "python3.12 not found (pyenv has it on these machines)"; exit 1; }
	$(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install -q --upgrade pip
	$(VENV312)/bin/python -m pip install -q -e ".[test]" "django>=6.0,<6.2"
	touch $@

test-django6: $(VENV312)/.installed
	$(VENV312)/bin/python -c "import django, sys; print('Django', django.get_version(), 'on Python', sys.version.split()[0])"
	$(VENV312)/bin/python -m pytest -m "not browser" $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(VENV312) db.sqlite3 test-*.sqlite3 var
