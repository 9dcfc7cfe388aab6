# The two commands of the README: `make run` (the whole pipeline on the embedded default)
# and `make test` (the project's own tests). Each sets everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint format clean clean-db

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/ensure-postgres.sh scripts/ensure-pgbouncer.sh
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-pgbouncer.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Always the embedded default: a SUPABASE_DB_URL in the environment or .env is for plain `pytest`.
run: setup
	@echo "make run: the embedded default ($${SELFHEAL_EMBEDDED_DIR:-.selfheal/db}); SUPABASE_DB_URL is ignored here"
	SUPABASE_DB_URL= $(BIN)/pytest

test: setup
	bash scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest tests -n auto

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) reports backlog .pytest_cache .hypothesis

# Stop the embedded default and delete its data (the next command creates it afresh).
clean-db: setup
	$(BIN)/python -m selfheal.core.cluster
