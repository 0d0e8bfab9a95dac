# Two commands on a fresh machine with Python 3.11+:
#   make run    serve API + admin on http://127.0.0.1:5000 (SQLite, no broker) with demo data
#   make test   run the test suite on every core (SQLite by default; PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: port-free run test bench lint format migrate seed worker beat check-deploy clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when a requirements file changes.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

# Checked before anything is installed or migrated, so a busy port fails at once.
port-free:
	@$(PYTHON) -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
	rc = s.connect_ex(("$(HOST)", $(PORT))); s.close(); \
	sys.exit(0 if rc else "Port $(PORT) on $(HOST) is already in use. Pick another one: make run PORT=5001 (HOST=$(HOST) by default)")'

run: port-free $(VENV)/.installed
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  VBWD is starting on http://$(HOST):$(PORT)"
	@$(BIN)/python manage.py describe_stack
	@echo "  Back office (Django admin): http://$(HOST):$(PORT)/admin/"
	@echo "  API docs (Swagger UI):      http://$(HOST):$(PORT)/api/v1/docs/"
	@echo "  Demo logins: admin@example.com / AdminPass123@  (staff)"
	@echo "               test@example.com / TestPass123@   (customer)"
	@echo ""
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# One worker per core (each with its own test database); an idle worker takes tests queued for
# a busy one, so a few long tests do not leave a core idle at the end. Then the 15 slowest.
TEST_WORKERS ?= auto
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --durations=15 $(PYTEST_ARGS)

# Speed targets: benchmarks print their measurements side by side (see bench/README.md).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m pytest bench/ --benchmark-only -p no:cacheprovider $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(VENV)/.installed
	$(BIN)/python manage.py migrate --no-input

seed: $(VENV)/.installed
	$(BIN)/python manage.py seed_demo

worker: $(VENV)/.installed
	$(BIN)/celery -A vbwd worker --loglevel=INFO

beat: $(VENV)/.installed
	$(BIN)/celery -A vbwd beat --loglevel=INFO

clean:
	rm -rf $(VENV) var
