# One quality gate and one offline plan, the same for a person, for CI and before each commit.
# Every target works on a fresh machine: it installs uv when missing (pinned, hash-checked, into
# .tools/), then syncs .venv to the hash-pinned requirements-dev.txt.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
STACK ?= dev
STACKS := dev staging prod
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
STAMP := $(VENV)/.synced
# The sagemaker SDK (v2) has its own environment: it pins packaging < 25, the Pulumi SDK needs
# packaging >= 26. components/pipeline_definition.py runs in it as a subprocess of the program.
SDK_VENV := .venv-sagemaker
SDK_PY := $(SDK_VENV)/bin/python
SDK_STAMP := $(SDK_VENV)/.synced
# The drift-check functions run on arm64 (Graviton) with this Python; the layer is built for it.
LAMBDA_PYTHON := 3.13
LAMBDA_PLATFORM := aarch64-manylinux_2_28
# Two layers: the drift checks' (numpy, msgspec, orjson, Powertools) and a light one with
# Powertools only, for the capture proxy and the endpoint verifier.
LAYERS := drift_check:drift-layer powertools_layer:powertools-layer
# The Lambda Python runtime ships boto3 and these; the layer does not carry a second copy.
LAMBDA_RUNTIME_PROVIDES := botocore jmespath python-dateutil six urllib3

.PHONY: help setup sdk-env checkov-env plan plan-all loop test lint format docs lock clean lambda-layer bench fuzz

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --require-hashes -r requirements-bootstrap.txt

# The drift benchmark's environment, apart from .venv (Evidently needs pandas < 3).
BENCH_VENV := build/bench-venv
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.synced
BENCH_ARGS ?=

# Bytecode is compiled at install time: on machines that set PYTHONDONTWRITEBYTECODE, Python
# would otherwise compile pulumi_aws from source again on every plan and test run.
$(STAMP): requirements-dev.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --require-hashes --compile-bytecode --python $(PY) requirements-dev.txt
	$(UV) pip install --quiet --no-deps --no-build-isolation --python $(PY) -e .
	touch $@

# Only the SDK's pinned packages: the repository is put on PYTHONPATH by the program
# (components/sagemaker_sdk.py), not installed here.
$(SDK_STAMP): requirements-sagemaker.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(SDK_VENV)
	$(UV) pip sync --quiet --require-hashes --compile-bytecode --python $(SDK_PY) requirements-sagemaker.txt
	touch $@

setup: $(STAMP) $(SDK_STAMP)  ## Install the pinned environments into .venv and .venv-sagemaker (uv first, when missing).

sdk-env: $(SDK_STAMP)  ## Only the sagemaker SDK's environment (.venv-sagemaker), e.g. before pulumi preview/up.

plan: $(STAMP) $(SDK_STAMP)  ## Offline plan of one stack under Pulumi's mocks: make plan STACK=dev
	$(PY) -m planner plan $(STACK)

plan-all: $(STAMP) $(SDK_STAMP)  ## Offline plan of dev, staging and prod.
	$(PY) -m planner plan $(STACKS)

loop: $(STAMP) $(SDK_STAMP)  ## Closed-loop demo offline: drift check -> trigger -> pipeline, on moto with IAM on.
	$(PY) -m loop --stack $(STACK)

lint: $(STAMP) $(SDK_STAMP)  ## ruff lint, ruff format --check, mypy strict (the SDK's module also against the SDK).
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m mypy --python-executable $(SDK_PY) components/pipeline_definition.py

# checkov (tests/kubernetes runs it on the rendered manifests) has its own environment: its
# pins would otherwise constrain the platform's. The tests find it at $(CHECKOV).
CHECKOV_VENV := build/checkov-venv
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.synced

$(CHECKOV_STAMP): checkov/requirements.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(CHECKOV_VENV)
	$(UV) pip sync --quiet --require-hashes --compile-bytecode --python $(CHECKOV_VENV)/bin/python checkov/requirements.txt
	touch $@

checkov-env: $(CHECKOV_STAMP)  ## Only checkov's environment (build/checkov-venv), for the manifest checks.

test: lint $(CHECKOV_STAMP)  ## The whole quality gate: lint, format check, mypy, pytest (actionlint and checkov included).
	$(PY) -m pytest -n 2 -q

fuzz: $(STAMP) $(SDK_STAMP)  ## Explore: the fuzz tests with random examples, 10x as many (MLOPS_FUZZ_SCALE); not in test.
	MLOPS_FUZZ_EXPLORE=1 $(PY) -m pytest -n 2 -q -p no:cacheprovider tests/security/test_handler_fuzz.py tests/security/test_config_fuzz.py

format: $(STAMP)  ## Apply ruff's fixes and formatting.
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

docs:  ## Regenerate the README's configuration reference and policy table.
	$(PY) -m planner config-reference --update README.md

lock: | $(UV)  ## Recompile the hash-pinned requirements files from pyproject.toml.
	# The dev set is resolved first; the runtime and policy-pack sets are constrained to it,
	# so `pulumi install` and the pack get exactly the versions the tests ran with.
	$(UV) pip compile --quiet pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.txt
	$(UV) pip compile --quiet pyproject.toml --generate-hashes --python-version 3.11 -c requirements-dev.txt -o requirements.txt
	$(UV) pip compile --quiet policy/requirements.in --generate-hashes --python-version 3.11 -c requirements-dev.txt -o policy/requirements.txt
	$(UV) pip compile --quiet requirements-bootstrap.in --generate-hashes -o requirements-bootstrap.txt
	$(UV) pip compile --quiet lambdas/drift_check/requirements.in --generate-hashes \
		--python-version $(LAMBDA_PYTHON) --python-platform $(LAMBDA_PLATFORM) \
		-c requirements-dev.txt -o lambdas/drift_check/requirements.txt \
		$(foreach p,$(LAMBDA_RUNTIME_PROVIDES),--no-emit-package $(p))
	$(UV) pip compile --quiet lambdas/powertools_layer/requirements.in --generate-hashes \
		--python-version $(LAMBDA_PYTHON) --python-platform $(LAMBDA_PLATFORM) \
		-c requirements-dev.txt -o lambdas/powertools_layer/requirements.txt \
		$(foreach p,$(LAMBDA_RUNTIME_PROVIDES),--no-emit-package $(p))
	$(UV) pip compile --quiet images/serving_sidecar/requirements.in --generate-hashes \
		--python-version $(LAMBDA_PYTHON) -c requirements-dev.txt -o images/serving_sidecar/requirements.txt
	$(UV) pip compile --quiet checkov/requirements.in --generate-hashes --python-version 3.11 -o checkov/requirements.txt
	$(UV) pip compile --quiet bench/requirements.in --generate-hashes --python-version 3.11 -c requirements-dev.txt -o bench/requirements.txt
	@# The SDK's environment is resolved on its own: its packaging (< 25) and protobuf differ
	@# from the dev pins, so requirements-dev.txt cannot constrain it.
	$(UV) pip compile --quiet requirements-sagemaker.in --generate-hashes --python-version 3.11 -o requirements-sagemaker.txt

clean:  ## Remove build output and environments.
	rm -rf build .venv $(SDK_VENV) .tools .mypy_cache .ruff_cache .pytest_cache

lambda-layer: | $(UV)  ## Build the Lambda layer zips (arm64 wheels, hash-checked) and print their sizes.
	@for pair in $(LAYERS); do \
		src=$${pair%%:*}; dir=build/lambda/$${pair##*:}; \
		rm -rf $$dir $$dir.zip; \
		$(UV) pip install --quiet --require-hashes --no-deps --only-binary :all: \
			--python-version $(LAMBDA_PYTHON) --python-platform $(LAMBDA_PLATFORM) \
			--target $$dir/python -r lambdas/$$src/requirements.txt; \
		(cd $$dir && find . -name '__pycache__' -prune -o -type f -print | LC_ALL=C sort \
			| TZ=UTC zip -q -X -D -@ ../$$(basename $$dir).zip); \
		echo "$$(basename $$dir): $$(du -sh $$dir | cut -f1) unzipped, $$(du -h $$dir.zip | cut -f1) zipped"; \
	done

$(BENCH_STAMP): bench/requirements.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(BENCH_VENV)
	$(UV) pip sync --quiet --require-hashes --compile-bytecode --python $(BENCH_PY) bench/requirements.txt
	$(UV) pip install --quiet --no-deps --no-build-isolation --python $(BENCH_PY) -e .
	touch $@

bench: $(BENCH_STAMP) lambda-layer  ## Drift benchmark vs Evidently and scipy (minutes; not in test): BENCH_ARGS=--quick
	$(BENCH_PY) -m bench.drift $(BENCH_ARGS)
