# tsskit — the two commands a new machine needs are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
GOTEST_TIMEOUT ?= 30m

.PHONY: all deps run build test test-go lint vet fmt-check proto proto-check bench fuzz fixtures clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build ./...

# The dev stack in one process: router, coordinator with the account API,
# three server parties and the server-party API, on embedded defaults (the
# admin web app joins it with the SDK). Ready when :4000/health answers 200.
run: deps
	$(GO) run ./cmd/tsskit dev

test: deps lint test-go

lint: fmt-check vet proto-check

# Regenerate Go and TypeScript from proto/ (buf and protoc-gen-es from npm,
# the Go plugins at the versions go.mod and buf.gen.yaml pin).
proto: deps
	cd proto && npx buf lint && npx buf generate

# CI: the committed generated code must be what `make proto` writes.
proto-check: proto
	@if ! git diff --quiet -- proto/gen sdk-ts/src/gen || [ -n "$$(git ls-files --others --exclude-standard -- proto/gen sdk-ts/src/gen)" ]; then \
	  echo "generated code is stale: run 'make proto' and commit the result"; git status --short -- proto/gen sdk-ts/src/gen; exit 1; fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Every Go test, including the fuzz targets' seed corpora.
test-go:
	$(GO) test -count=1 -timeout $(GOTEST_TIMEOUT) -json ./... | $(GO) run ./scripts/testsummary

# Benchmarks print figures for this machine; docs/benchmarks.md records them.
bench: deps
	scripts/bench.sh

# Run each fuzz target for FUZZTIME (seed corpora already run in `make test`).
FUZZTIME ?= 60s
fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./party/seal
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./party/share

# Regenerate the committed test pre-parameters with the project's generator.
fixtures: deps
	$(GO) test -count=1 -timeout 30m -run '^TestWriteFixture$$' ./party/preparams -update-fixture -v

clean:
	rm -rf bin bench-out
