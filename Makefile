# The commands a developer and CI run. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: test lint unit

## test: formatting, lints and every test
test: lint unit

## lint: rustfmt and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## unit: the Rust tests (pure core tests and handler tests against aws-smithy-mocks)
unit:
	$(CARGO) test --workspace
