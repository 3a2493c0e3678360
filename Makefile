# The two quick-start commands and the checks. Each target installs what it needs.
.PHONY: run test lint mutate bootstrap system-deps clean-local

bootstrap:
	@./scripts/bootstrap

# System packages some tests need (chromium, podman, runc, busybox-static), installed
# where missing and apt-get can; otherwise named, and those tests are skipped.
system-deps:
	@./scripts/system-deps

# Run the founding workflow end to end on the local stack (Azurite + local Batch).
run: bootstrap
	.venv/bin/bwf apply workflows/topn.yaml --yes
	@for f in out/topn/*_OUTPUT.txt; do echo "== $$f"; grep -v "^#" "$$f"; done

# Lint, type check and the whole test suite (what CI runs).
test: system-deps lint
	.venv/bin/python -m pytest -q

lint: bootstrap
	.venv/bin/ruff check runner tests bench node_scripts
	.venv/bin/ruff format --check runner tests bench node_scripts
	.venv/bin/mypy

# Mutation testing of the pure modules against the pure tests, with the score per
# module (docs/testing.md). Slow on 2 cores, so not part of `test` or CI.
# `make mutate MODULES="shell names"` mutates only those.
mutate: bootstrap
	.venv/bin/python scripts/mutate.py --show $(MODULES)

# Stop the local stack started by `make run`.
clean-local:
	-.venv/bin/bwf local down
