# cronicorn.monitoring: every entry point an operator or CI uses. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# official: pinned upstream images (postgres, metabase/metabase); offline: local stand-ins built by `make images`.
IMAGES ?= official
INVENTORY ?= inventory/dev
REPORTS := .tmp/reports

export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)
export METABASE_OPENAPI ?= $(abspath ../shared/metabase/openapi.json)

ifeq ($(IMAGES),offline)
IMAGE_VARS := -e @playbooks/vars/images-offline.yml
IMAGE_DEPS := images
else ifeq ($(IMAGES),official)
IMAGE_VARS :=
IMAGE_DEPS :=
else
$(error IMAGES must be 'official' or 'offline', not '$(IMAGES)')
endif

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# --- environment -------------------------------------------------------------------------------

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

.PHONY: venv venv-dev
venv: $(VENV)/.runtime-installed ## Create the virtualenv with what a deploy needs
venv-dev: $(VENV)/.dev-installed ## Create the virtualenv with what the tests need

.PHONY: docker
docker: ## Make sure a Docker engine answers (installs and starts one as root on Debian)
	@bash scripts/ensure-docker.sh

.PHONY: images
images: venv docker ## Build the offline stand-in images (only those missing or changed)
	$(BIN)/ansible-playbook playbooks/offline_images.yml

# --- operator commands -------------------------------------------------------------------------

.PHONY: deploy
deploy: venv docker $(IMAGE_DEPS) ## Bring up the dev stack: site.yml on inventory/dev (IMAGES=offline for stand-ins)
	$(BIN)/ansible-playbook site.yml -i $(INVENTORY) $(IMAGE_VARS)

.PHONY: build
build: venv ## Build the collection tarball into build/
	mkdir -p build
	$(BIN)/ansible-galaxy collection build --force --output-path build .

# --- tests -------------------------------------------------------------------------------------

.PHONY: test
test: venv-dev docker images ## Everything CI runs; a dev stack of `make deploy` (or a sentinel for it) must come through
	mkdir -p $(REPORTS)
	rm -f .tmp/test-stages-failed
	$(BIN)/python scripts/dev_stack_guard.py start
	# The stages run in a sub-make; its failure is kept for later, so that the guard always checks and cleans up.
	$(MAKE) --no-print-directory lint sanity unit integration molecule || touch .tmp/test-stages-failed
	status=0; $(BIN)/python -m pytest tests/guard -q -p no:cacheprovider --junitxml=$(REPORTS)/dev-stack.xml \
	  || status=1; $(BIN)/python scripts/dev_stack_guard.py stop; exit $$status
	@test ! -e .tmp/test-stages-failed || { echo "a stage of make test failed (see above)" >&2; exit 1; }
	@$(BIN)/python scripts/test-summary.py $(REPORTS)

.PHONY: lint
lint: venv-dev ## yamllint, ansible-lint (production profile), ruff, actionlint (.github/workflows)
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint

.PHONY: sanity
sanity: venv-dev ## ansible-test sanity on a copy of the collection (offline pip bootstrap)
	$(BIN)/python scripts/install-get-pip-shim.py
	rm -rf .tmp/sanity && mkdir -p .tmp/sanity/ansible_collections/cronicorn/monitoring
	git ls-files --cached --others --exclude-standard | grep -v '^collections/' \
	  | while read -r f; do if [ -e "$$f" ]; then echo "$$f"; fi; done \
	  | tar -cf - --files-from=- | tar -xf - -C .tmp/sanity/ansible_collections/cronicorn/monitoring
	# ansible-test lists files with git; the copy gets a repository of its own (.tmp/ is ignored here).
	cd .tmp/sanity/ansible_collections/cronicorn/monitoring \
	  && git init -q && git add -A \
	  && $(abspath $(BIN))/ansible-test sanity --local --python 3.11 --color no

.PHONY: unit
unit: venv-dev ## Unit and contract tests (no Docker; seconds)
	mkdir -p $(REPORTS)
	$(BIN)/python -m pytest tests/unit tests/contract tests/double tests/packaging -q --junitxml=$(REPORTS)/unit.xml

.PHONY: integration
integration: venv-dev docker images ## Tests against real PostgreSQL and the Metabase double containers
	mkdir -p $(REPORTS)
	$(BIN)/python -m pytest tests/integration -q --junitxml=$(REPORTS)/integration.xml

# Molecule's images: the offline stand-ins, unless IMAGES is given (`make molecule IMAGES=official`: the official
# images, pulled where a registry answers; checks only the Metabase double can answer are skipped, with a reason).
# Each run gets free ports of its own (molecule/isolation.yml names the rest): nothing of `make deploy` is touched.
MOLECULE_IMAGES := $(if $(filter command line environment,$(origin IMAGES)),$(IMAGES),offline)
MOLECULE_TEST = eval "$$($(BIN)/python scripts/free_ports.py)" && CRONICORN_MOLECULE_IMAGES=$(1) \
  CRONICORN_MOLECULE_REPORT_SUFFIX=$(if $(filter official,$(1)),-official,) $(BIN)/molecule test -s $(2)

.PHONY: molecule
molecule: venv-dev docker images ## molecule test -s dev, then -s production (converge, idempotence, verify, destroy)
	mkdir -p $(REPORTS)
	$(call MOLECULE_TEST,$(MOLECULE_IMAGES),dev)
	$(call MOLECULE_TEST,$(MOLECULE_IMAGES),production)
ifeq ($(MOLECULE_IMAGES),offline)
	# The IMAGES=official wiring without a registry: the dev scenario once more, on the stand-ins tagged with the
	# official names for the run (scripts/official_standins.py; existing images are neither replaced nor removed).
	$(BIN)/python scripts/official_standins.py -- bash -c '$(call MOLECULE_TEST,official,dev)'
endif

.PHONY: bench
bench: venv-dev docker images ## Benchmarks: the views at 1M/10M runs (2 generators x 2 collations), site.yml cold and re-run (not in `make test`)
	# Databases are generated once and kept (volume views-bench-pgdata); e.g. BENCH_VIEWS_ARGS="--generators heavy"
	$(BIN)/python tests/bench/bench_views.py $(BENCH_VIEWS_ARGS)
	# Replaces a running dev stack only when asked: make bench BENCH_SITE_ARGS=--replace
	$(BIN)/python tests/bench/bench_site.py $(BENCH_SITE_ARGS)

.PHONY: clean
clean: ## Remove build output and caches (keeps the virtualenv and the images)
	rm -rf build .tmp .pytest_cache .ruff_cache

# The dev database of inventory/dev. The password reaches seed.py in its environment (PGPASSWORD), never on a
# command line, where every user of the machine sees it (ps).
SEED_DSN ?= host=127.0.0.1 port=5432 dbname=db user=user
SEED_PASSWORD ?= dev-only-postgres-password

.PHONY: seed
seed: export PGPASSWORD = $(SEED_PASSWORD)
seed: venv-dev ## Dev only: create Cronicorn's schema and seed data in the dev database, as the application would
	$(BIN)/python tests/fixtures/cronicorn/seed.py --load-schema --runs $${RUNS:-3000} --dsn "$(SEED_DSN)"
