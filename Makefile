# Common commands. `python3 dev.py ...` needs nothing installed; these assume it ran once.
PY := .venv/bin/python

.PHONY: run test check lint format typecheck migrations-check bench

run:
	python3 dev.py run

test:
	python3 dev.py test

check: lint typecheck migrations-check test

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

typecheck:
	.venv/bin/mypy config documents chat api evaluation

migrations-check:
	$(PY) manage.py makemigrations --check --dry-run

bench:
	$(PY) bench/ingest.py
	$(PY) bench/search.py
	$(PY) bench/scifact.py
