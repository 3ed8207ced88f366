# tsskit — the two commands a new machine needs are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
GOTEST_TIMEOUT ?= 30m

.PHONY: all deps run build wasm web test-admin-web test test-go test-helm test-wasm test-sdk test-browser lint vet fmt-check proto proto-check bench fuzz fixtures clean services load load-overload

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build ./...

# The dev stack in one process: router, coordinator with the account API,
# three server parties, the server-party API, and the admin web app with
# tss.wasm on http://localhost:8080, on embedded defaults. Ready when
# :4000/health answers 200.
run: deps wasm web
	$(GO) run ./cmd/tsskit dev

# The SDK (sdk-ts/dist: ESM + declarations) and the admin web app
# (examples/admin-web, React + Vite, which builds against the SDK's source)
# into its dist/.
web: deps
	npm run --silent -w sdk-ts build >/dev/null
	npm run --silent -w examples/admin-web build

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

# tss.wasm and what a browser needs beside it, in public/ (not committed):
# the wasm, the worker script (TypeScript in sdk-ts/src/worker, bundled
# into one classic worker script with Go's matching wasm_exec.js: it shares
# the SDK's backup and pre-params code, so shares, primes and pre-params
# stay in the workers), and .br/.gz variants that the static handler picks
# by Accept-Encoding. Then the SHA-384 pins of tss.wasm and tss-worker.js:
# public/tsskit-integrity.json for deployments, and
# sdk-ts/src/build-integrity.ts (git-ignored) for the SDK built after this,
# which refuses any other files by default (docs/wasm.md).
WASM_EXEC = $$($(GO) env GOROOT)/lib/wasm/wasm_exec.js
define WASM_PINS_JS
const fs = require("fs"), { createHash } = require("crypto");
const pin = (f) => "sha384-" + createHash("sha384").update(fs.readFileSync(f)).digest("base64");
const pins = { wasm: pin("public/tss.wasm"), worker: pin("public/tss-worker.js") };
fs.writeFileSync("public/tsskit-integrity.json", JSON.stringify(pins, null, 2) + "\n");
fs.writeFileSync("sdk-ts/src/build-integrity.ts",
  "// Written by make wasm: the pins of public/tss.wasm and public/tss-worker.js. Not committed.\n" +
  "export const BUILD_INTEGRITY: { readonly wasm: string; readonly worker: string } | null = " + JSON.stringify(pins, null, 2) + ";\n");
endef
export WASM_PINS_JS
# tss.wasm is built without inlining except in the packages its protocol
# work runs in (the runtime, math/big, the prime search, tss-lib's proofs):
# inlining everywhere else costs ≈ 250 kB brotli and no measured speed
# (docs/benchmarks.md). The build fails if the brotli file grows past
# WASM_MAX_BR bytes (2.5 MiB).
WASM_GCFLAGS = -gcflags=all=-l -gcflags=runtime/...= -gcflags=internal/...= -gcflags=math/...= \
	-gcflags=github.com/rwadurian/tsskit/party/preparams= -gcflags=github.com/bnb-chain/tss-lib/v2/crypto/...=
WASM_MAX_BR = 2621440
wasm: deps
	@mkdir -p public
	GOOS=js GOARCH=wasm $(GO) build -trimpath $(WASM_GCFLAGS) -ldflags="-s -w -X main.version=$(VERSION)" -o public/tss.wasm ./wasm
	@rm -f public/wasm_exec.js public/wasm_exec.js.br public/wasm_exec.js.gz
	npx esbuild sdk-ts/src/worker/tss-worker.ts --bundle --format=iife --target=es2022 --log-level=warning --inject:"$(WASM_EXEC)" --outfile=public/tss-worker.js
	cp wasm/tsskit.d.ts public/tsskit.d.ts
	node -e "$$WASM_PINS_JS"
	$(GO) run ./scripts/precompress public/tss.wasm public/tss-worker.js
	@size=$$(wc -c < public/tss.wasm.br); if [ "$$size" -gt $(WASM_MAX_BR) ]; then \
		echo "tss.wasm.br is $$size bytes, over the limit of $(WASM_MAX_BR) (WASM_MAX_BR): see docs/benchmarks.md, tss.wasm size" >&2; exit 1; fi; \
		echo "tss.wasm.br: $$size bytes (limit $(WASM_MAX_BR))"

# Every suite records its counts in $(COUNTS); the last line of `make test`
# adds them up: "N passed, N failed, N skipped".
COUNTS ?= $(CURDIR)/.test-counts
export TSSKIT_COUNTS := $(COUNTS)

test: deps
	@rm -rf "$(COUNTS)"
	$(MAKE) --no-print-directory lint test-go test-helm test-wasm test-sdk test-browser test-admin-web
	@$(GO) run ./scripts/testsummary -total "$(COUNTS)"

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

# PostgreSQL and Redis for the backend tests: started (installed if need
# be) when they do not answer.
services:
	@scripts/services.sh

# Every Go test, including the fuzz targets' seed corpora.
test-go: services
	$(GO) test -count=1 -timeout $(GOTEST_TIMEOUT) -json ./... | $(GO) run ./scripts/testsummary

# The Helm chart (deploy/helm/tsskit): helm lint and helm template with
# each values file in deploy/helm/test/values, every manifest decoded
# strictly into its Kubernetes API type, and what the chart promises
# checked against the tsskit binary built from this tree. Helm (pinned) is
# built into .tools/bin when missing. The test is a Go module of its own,
# so the main module does not depend on the Kubernetes API packages.
test-helm: deps
	@scripts/helm-tool.sh
	(cd deploy/helm/test && HELM="$(CURDIR)/.tools/bin/helm" $(GO) test -count=1 -json ./...) | $(GO) run ./scripts/testsummary -name helm

# Go tests compiled to wasm, run in headless Chromium (wasmbrowsertest as
# go_js_wasm_exec): the engine's codecs, the prime search and the JS API of
# tss.wasm with a full keygen and signing. The engine's heavy protocol tests
# run natively in test-go; under wasm they would take many minutes.
WASM_PKGS = ./party/seal ./party/roster ./party/preparams ./wasm
test-wasm: deps
	@scripts/wasm-tools.sh
	PATH="$(CURDIR)/.tools/bin:$$PATH" GOOS=js GOARCH=wasm $(GO) test -count=1 -short -timeout $(GOTEST_TIMEOUT) $(WASM_GCFLAGS) -json $(WASM_PKGS) | $(GO) run ./scripts/testsummary -name wasm

# The TypeScript SDK: type check, unit tests (Vitest; fake-indexeddb only
# here), and the library build (tsup: ESM + declarations).
test-sdk: deps
	npm run --silent -w sdk-ts typecheck
	@mkdir -p "$(COUNTS)"
	npm run --silent -w sdk-ts test -- --reporter=dot --reporter=json --outputFile.json="$(COUNTS)/vitest.json"
	@node scripts/counts.mjs vitest "$(COUNTS)/vitest.json"
	npm run --silent -w examples/admin-web test:unit -- --reporter=dot --reporter=json --outputFile.json="$(COUNTS)/vitest-admin-web.json"
	@node scripts/counts.mjs vitest-admin-web "$(COUNTS)/vitest-admin-web.json"
	npm run --silent -w sdk-ts build >/dev/null

# A page in headless Chromium is one party of a 2-of-3 keygen and a signing
# with the server parties of 'tsskit dev', over gRPC-Web (sdk-ts/test/browser;
# node --test runs every *.test.mjs there: the SDK, its messages and pins,
# refresh and reshare, and lost-device recovery in recover.test.mjs, whose
# dev stack gets a backend recovery key through TSSKIT_RECOVERY_KEYS; a
# keygen waiting for busy server parties' work slots in queue.test.mjs).
test-browser: deps wasm
	@scripts/wasm-tools.sh
	@mkdir -p bin public/e2e
	$(GO) build -o bin/tsskit ./cmd/tsskit
	$(GO) build -o bin/evilcoord ./internal/evilcoord/cmd/evilcoord
	npx esbuild sdk-ts/test/browser/e2e-page.ts --bundle --format=esm --log-level=warning --outfile=public/e2e/e2e.js
	npx esbuild sdk-ts/test/browser/sdk-page.ts --bundle --format=esm --log-level=warning --outfile=public/e2e/sdk.js
	cp sdk-ts/test/browser/index.html public/e2e/index.html
	cp sdk-ts/test/browser/sdk.html public/e2e/sdk.html
	@mkdir -p "$(COUNTS)"
	TSSKIT_BIN="$(CURDIR)/bin/tsskit" EVILCOORD_BIN="$(CURDIR)/bin/evilcoord" TSSKIT_WEB_DIR="$(CURDIR)/public" node --test \
	  --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=tap --test-reporter-destination="$(COUNTS)/browser.tap" sdk-ts/test/browser/
	@node scripts/counts.mjs browser "$(COUNTS)/browser.tap"

# The admin app in headless Chromium against the dev stack that make run
# starts: create, list, reload, sign, wrong password, backup into a fresh
# profile, refresh, change of policy to 3-of-4, cancel.
# Screenshots land in test-artifacts/admin-web/.
test-admin-web: deps wasm web
	@scripts/wasm-tools.sh
	@mkdir -p bin "$(COUNTS)"
	$(GO) build -o bin/tsskit ./cmd/tsskit
	TSSKIT_BIN="$(CURDIR)/bin/tsskit" TSSKIT_REPO="$(CURDIR)" node --test \
	  --test-reporter=spec --test-reporter-destination=stdout \
	  --test-reporter=tap --test-reporter-destination="$(COUNTS)/admin-web.tap" examples/admin-web/test/
	@node scripts/counts.mjs admin-web "$(COUNTS)/admin-web.tap"

# Benchmarks print figures for this machine; docs/benchmarks.md records them.
bench: deps
	scripts/bench.sh

# Run every fuzz target (each `func Fuzz...` in the tree, found by the
# script) for FUZZTIME, one after another; seed corpora already run in
# `make test`. FUZZ_ONLY=regexp narrows the set.
FUZZTIME ?= 30s
fuzz: deps
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# Load on loopback: LOAD_KEYGENS concurrent REST keygens, then LOAD_SIGNS
# signs, on the embedded backends and on PostgreSQL + Redis (LOAD_BACKENDS);
# every signature is verified; tables in bench-out/load*.md.
load: deps services
	scripts/load.sh

# The overload scenario and its criteria (docs/load.md, "Overload"): 4
# sequential keygens, 40 keygens at once, then a burst of 3x the capacity
# the sequential keygens measured, with signs 5 in flight beside it, and 4
# sequential keygens again (the reference throughput is both sequential
# phases'); fails unless no request timed out, every refusal took under
# 1 s, the burst's goodput is at least 0.9 of the sequential throughput and
# the burst's signs have p99 under 5 s. The LOAD_* variables still apply.
load-overload: deps services
	LOAD_SEQUENTIAL="$${LOAD_SEQUENTIAL:-4}" LOAD_SEQUENTIAL_AFTER="$${LOAD_SEQUENTIAL_AFTER:-4}" LOAD_TIMEOUT="$${LOAD_TIMEOUT:-30m}" \
	LOAD_KEYGENS="$${LOAD_KEYGENS:-40}" LOAD_SIGNS="$${LOAD_SIGNS:-20}" \
	LOAD_SIGN_CONCURRENCY="$${LOAD_SIGN_CONCURRENCY:-5}" LOAD_BURST="$${LOAD_BURST:-3x}" \
	LOAD_BURST_SIGNS="$${LOAD_BURST_SIGNS:-20}" LOAD_CRITERIA="$${LOAD_CRITERIA:-1}" scripts/load.sh

# Regenerate the committed test pre-parameters with the project's generator.
fixtures: deps
	$(GO) test -count=1 -timeout 30m -run '^TestWriteFixture$$' ./party/preparams -update-fixture -v

clean:
	rm -rf bin bench-out public .tools sdk-ts/dist

# The container image (deploy/Containerfile, deploy/README.md): tagged
# $(IMAGE), built with Podman (installed when missing) on a builder made
# from this machine's Go toolchain, so no image registry is needed.
IMAGE ?= tsskit:latest
.PHONY: image test-image
image: deps wasm web
	IMAGE="$(IMAGE)" scripts/image.sh

# Builds the image and checks it: its configuration, every file in it, and
# the binary taken out of it and run here. Not part of `make test`: on a
# fresh machine, Podman and the wasm and web builds take minutes.
test-image: image
	TSSKIT_IMAGE="$(IMAGE)" $(GO) test -count=1 -run '^TestImage$$' -json ./deploy | $(GO) run ./scripts/testsummary -name image
