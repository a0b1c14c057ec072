# Promote's developer targets. `make test` runs what CI runs.
GO ?= go
PKGS := ./...
FUZZTIME ?= 30s
# The version that `promote version` prints and the image's tag.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE ?= ghcr.io/promote-ml/promote:$(VERSION)
LDFLAGS := -s -w -X github.com/promote-ml/promote/internal/cli.Version=$(VERSION)

.PHONY: help build docker test lint fmt vet fuzz bench ci clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build a static, stripped promote binary into ./bin (VERSION=v1.2.3 to stamp one)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/promote ./cmd/promote

docker: ## Build the container image IMAGE from the Dockerfile (VERSION stamps it)
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

test: ## Run what CI runs: format and vet checks, then every test (fuzz seed corpora included)
	bash .ci/run

lint: fmt vet ## gofmt and go vet

fmt: ## Fail if any Go file is not gofmt-formatted
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vet: ## go vet every package
	$(GO) vet $(PKGS)

fuzz: ## Fuzz every fuzz target for FUZZTIME each (default 30s)
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		pkg=./$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

bench: ## The benchmark scripts: the gate against conftest, the registry under load (see BENCHMARKS.md)
	bash bench/gate/run.sh
	bash bench/registry/run.sh

clean: ## Remove build outputs
	rm -rf bin
