# Promote's developer targets. `make test` runs what CI runs.
GO ?= go
PKGS := ./...
FUZZTIME ?= 30s

.PHONY: help build test lint fmt vet fuzz bench ci clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the promote binary into ./bin
	$(GO) build -o bin/promote ./cmd/promote

test: ## Run what CI runs: format and vet checks, then every test (fuzz seed corpora included)
	bash .ci/run

lint: fmt vet ## gofmt and go vet

fmt: ## Fail if any Go file is not gofmt-formatted
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vet: ## go vet every package
	$(GO) vet $(PKGS)

fuzz: ## Fuzz each parser of user input for FUZZTIME (default 30s)
	$(GO) test -run '^$$' -fuzz '^FuzzParseThreshold$$' -fuzztime $(FUZZTIME) ./internal/policy/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/policy/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEvidence$$' -fuzztime $(FUZZTIME) ./internal/policy/
	$(GO) test -run '^$$' -fuzz '^FuzzParseSamples$$' -fuzztime $(FUZZTIME) ./internal/policy/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./internal/signature/
	$(GO) test -run '^$$' -fuzz '^FuzzVerifyBundle$$' -fuzztime $(FUZZTIME) ./internal/signature/

bench: ## Gate benchmarks against conftest (see BENCHMARKS.md)
	bash bench/gate/run.sh

clean: ## Remove build outputs
	rm -rf bin
