# The two commands of the README: `make run` (set up, then the chat UI on the bundled seeds with the
# default model) and `make test` (set up, then the whole test suite, real model and real browser included).
.PHONY: run test setup models bench

run:
	scripts/setup.sh --models all
	.venv/bin/python app.py $(ARGS)

test:
	scripts/setup.sh --models fast --browser
	.venv/bin/python -m pytest $(ARGS)

setup:
	scripts/setup.sh --models all --browser

models:
	scripts/setup.sh --models all

bench:
	.venv/bin/python benchmarks/ingest_speed.py
	.venv/bin/python benchmarks/answer_speed.py
