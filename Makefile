# The two commands of the README: `make run` (set up, then the chat UI on the bundled seeds with the
# default model) and `make test` (set up, then the whole test suite, real model and real browser included).
.PHONY: run test test-fast setup models bench

run:
	scripts/setup.sh --models all
	.venv/bin/python app.py $(ARGS)

test:
	scripts/setup.sh --models fast --browser
	.venv/bin/python -m pytest $(ARGS)

# The unit tests alone, in well under a minute: fakes for the model and embedder, no browser, no GGUF needed.
# Left to `make test`: tests marked slow, and tests/reliability/ (the real CLI in subprocesses, killed writers,
# full disks).
test-fast:
	scripts/setup.sh --models none
	.venv/bin/python -m pytest -m "not slow" --ignore=tests/reliability -q $(ARGS)

setup:
	scripts/setup.sh --models all --browser

models:
	scripts/setup.sh --models all

bench:
	.venv/bin/python benchmarks/ingest_speed.py
	.venv/bin/python benchmarks/answer_speed.py
