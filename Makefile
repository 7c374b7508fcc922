# Every target uses .venv/ (made by `make install`); nothing goes into the system Python.
# `make failover` / `failback` / `drill` / `readiness` run against the embedded site (a moto server and
# a real sshd on 127.0.0.1) unless SITE=path/to/site.json names a real one.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ORCH := $(BIN)/orchestrator
SITE ?=
ARGS ?=
PYTEST_ARGS ?=
# `make test PYTEST_WORKERS=N` runs on N pytest-xdist workers, a module's tests on one worker (its module-scoped
# embedded site built once). 0 (the default) runs in one process: on a loaded 2-core machine 4 workers pushed
# timing-bound tests (CLI timeouts, "within N s" bounds) past their limits.
PYTEST_WORKERS ?= 0

.PHONY: install system-deps test lint typecheck format failover failback drill readiness sandbox-up sandbox-down \
	primary-down primary-up watch \
        bench chaos preview up site-file clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Debian's openssh-server: the embedded site's SFTP provider and VPN appliance are a real sshd.
system-deps:
	@bash scripts/system-deps.sh

test: install system-deps
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .

failover failback drill: install system-deps
	@if [ -n "$(SITE)" ]; then \
	  $(ORCH) $@ --site "$(SITE)" $(ARGS); \
	else \
	  $(ORCH) sandbox run -- $@ --yes $(ARGS); \
	fi

readiness: install system-deps
	@if [ -n "$(SITE)" ]; then $(ORCH) readiness --site "$(SITE)" $(ARGS); \
	else $(ORCH) sandbox run -- readiness $(ARGS); fi

sandbox-up: install system-deps
	$(ORCH) sandbox up

sandbox-down: install
	$(ORCH) sandbox down

# detection on the embedded site (contract 1.2): the sandbox primary's endpoints down / up, and the watch loop
primary-down primary-up: install
	$(ORCH) sandbox primary $(subst primary-,,$@)

watch: install
	@if [ -n "$(SITE)" ]; then $(ORCH) watch --site "$(SITE)" $(ARGS); \
	else eval "$$($(ORCH) sandbox env)" && $(ORCH) watch --stage --interval 2 $(ARGS); fi

# the restore benchmark compares against Debian's rclone: installed here (bench only, not for make test)
bench: install
	@bash scripts/system-deps.sh --bench
	$(BIN)/python -m bench $(ARGS)

chaos: install system-deps
	$(BIN)/pytest -m chaos --chaos-full $(PYTEST_ARGS)

STACK ?= dev
# The warm-site stack with the real Pulumi CLI (prints what to install when it is missing).
preview up site-file: install
	@bash stacks/run-pulumi.sh $@ $(STACK)

clean:
	rm -rf .orchestrator .sandbox .pytest_cache .ruff_cache
