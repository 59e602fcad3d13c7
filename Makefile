# The commands a developer and CI run. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test lint unit tools stack-tests e2e infra-checks package demo bench

## demo: the whole pipeline on this machine, no AWS account (builds, starts the offline stack)
demo: tools
	.tools/venv/bin/python infra/local/demo.py

## test: formatting, lints and every test
test: lint unit stack-tests e2e infra-checks

## lint: rustfmt and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## unit: the Rust tests (pure core tests and handler tests against aws-smithy-mocks)
unit:
	$(CARGO) test --workspace

## tools: every pinned tool into .tools/ (scripts/install-tools; a no-op when up to date)
tools:
	scripts/install-tools python

## stack-tests: the HealthLake emulator's wire format with boto3, and moto -> cargo lambda forwarding
stack-tests: tools
	.tools/venv/bin/pytest -q -p no:cacheprovider tests/emulator tests/stack

## e2e: the end-to-end tests, each module on its own offline stack (tests/e2e)
## (tmux is for the client's terminal test, which says why it is skipped where tmux cannot be had)
e2e: tools
	scripts/install-tools tmux || echo "make: no tmux in .tools: the client's terminal test is skipped" >&2
	.tools/venv/bin/pytest -q -p no:cacheprovider tests/e2e

## infra-checks: cfn-lint, sam validate --lint, statelint, and the template/ASL tests (infra/checks)
infra-checks: tools
	INFRA_CHECKS_SKIP_INSTALL=1 infra/checks/run

## package: sam build, arm64 bootstrap binaries of the functions (target/sam/build)
package:
	scripts/install-tools python rust-targets
	INFRA_CHECKS_SKIP_INSTALL=1 infra/checks/package.sh

## bench: polling cost per export, cold start and memory against Python/boto3 (and where a
## cold start goes), the notification delay after a job's end with job events, a week of
## incremental exports against full ones, a month's cost by service, the command-line
## client's follow: its API calls per job duration, its exit after a job's end, and a night of
## ten data stores under the one-export quota and a start rate (bench/README.md)
bench: tools
	$(CARGO) run -q -p polling-cost
	bench/run-coldstart
	.tools/venv/bin/python bench/job-events-delay.py
	.tools/venv/bin/python bench/incremental-week.py
	.tools/venv/bin/python bench/monthly-cost.py
	$(CARGO) run -q -p healthlake-export-cli --example follow-calls
	.tools/venv/bin/python bench/cli-follow.py
	.tools/venv/bin/python bench/night.py
