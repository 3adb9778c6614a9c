# The two commands of README.md: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test install install-dev browser lint security messages bench mutation clean-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the browser tests (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	PORT=$(PORT) $(BIN)/python manage.py serve --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python tools/security_check.py
	ITSM_ENV=test $(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# No committed secret (detect-secrets) and no known vulnerability in the pins (pip-audit); also in `test`.
security: install-dev
	$(BIN)/python tools/security_check.py

messages: install-dev
	$(BIN)/python manage.py makemessages -l fr --ignore=.venv --ignore=var
	$(BIN)/python manage.py compilemessages --ignore=.venv

bench: install-dev
	$(BIN)/python bench/run.py

# Mutation testing of the core modules (slow; not part of `make test`): the score per module and
# the surviving mutants. `make mutation MODULES=sla/sweep.py` for one; the list is mutation/modules.toml.
mutation: install-dev
	$(BIN)/python mutation/run.py $(MODULES)

clean-db:
	-$(BIN)/python manage.py embedded_db stop
	rm -rf var/pgdata
