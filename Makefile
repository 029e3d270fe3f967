# Signoff — make run starts everything on an embedded Temporal; make test is CI's test command.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
CONFIG ?= deploy/signoff.dev.yaml

# Code generators, pinned; installed into ./bin with go install (no registry).
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION := v2.29.0
STATICCHECK_VERSION := v0.8.2
WORKFLOWCHECK_VERSION := v0.6.0
TEMPORAL_CLI_VERSION := v1.5.1

.PHONY: all build build-prod run test test-short vet lint fmt-check proto proto-check tools lint-tools temporal-cli ci bench fuzz image clean

all: build

build:
	$(GO) build -o $(BIN)/signoff ./cmd/signoff

## build-prod: the production binary: static, without the embedded Temporal server.
build-prod:
	CGO_ENABLED=0 $(GO) build -tags nodev -trimpath -ldflags "-s -w" -o $(BIN)/signoff-prod ./cmd/signoff

## run: the whole service (embedded Temporal + Web UI, worker, gateway) with the dev config.
run: build
	$(BIN)/signoff dev --config $(CONFIG)

## test: vet, unit and workflow tests, and the end-to-end tests on an embedded Temporal.
## End-to-end tests that need no process-wide environment run four at a time: most of their time is spent
## waiting (timers, polls, replays), not computing.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -parallel 4 -timeout 30m ./...

test-short:
	$(GO) test -short -count=1 ./...

## lint: gofmt, staticcheck, and workflowcheck (determinism of workflow code).
lint: lint-tools fmt-check
	$(BIN)/staticcheck ./...
	$(BIN)/workflowcheck ./workflows/... ./triggers/...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.' )); test -z "$$out" || (echo "gofmt needed: $$out" >&2; exit 1)

lint-tools: $(BIN)/staticcheck $(BIN)/workflowcheck
$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
$(BIN)/workflowcheck:
	GOBIN=$(BIN) $(GO) install go.temporal.io/sdk/contrib/tools/workflowcheck@$(WORKFLOWCHECK_VERSION)

## temporal-cli: the Temporal CLI, to inspect approvals (temporal workflow list ...).
temporal-cli: $(BIN)/temporal
$(BIN)/temporal:
	GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

## bench: Go micro-benchmarks, then the load generator against bare Temporal on the same embedded server, and,
## with SIGNOFF_BENCH_POSTGRES_URL (a role that may create databases), on the production topology too
## (signoff temporal on PostgreSQL, worker and gateway as separate processes) and the volume phase there
## (100,000 approvals, then lists and inboxes timed: most of the hour the whole bench takes; -volume 0 skips it).
## Prints a table; writes bench/results/latest.json and bench/results/latency.png. Not part of make test.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./approval/ ./bench/ ./policy/... ./gateway/...
	$(GO) run ./cmd/signoff-bench -out bench/results

## fuzz: run every fuzz target on its checked-in seeds plus what it finds, for a fixed number of executions
## (about 15 s each here). Counts, not durations: with a duration, Go 1.26's fuzz coordinator can report a spurious
## "context deadline exceeded" failure as the time runs out (golang/go#75804, fixed in Go 1.27); a count has no
## deadline to race. FUZZTIME=30s (or 1000x) overrides every target's budget.
FUZZ_TARGETS := ./channel/slack/callbacks:FuzzParseInteraction:5000x ./channel/slack/callbacks:FuzzVerify:30000x \
	./channel/email/linktoken:FuzzVerify:40000x ./config:FuzzParse:10000x ./redact:FuzzRedact:200000x
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; budget=$(if $(FUZZTIME),$(FUZZTIME),$${rest#*:}); echo "fuzz $$pkg $$fn ($$budget)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $$budget -fuzzminimizetime 5s $$pkg; \
	done

## image: the production container image (needs a Docker engine).
image:
	docker build -f deploy/Dockerfile -t signoff:$(shell git describe --always --dirty 2>/dev/null || echo dev) .

## ci: everything CI checks.
ci: proto-check lint test fuzz

tools: $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2

$(BIN)/buf:
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(BIN)/protoc-gen-grpc-gateway:
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(BIN)/protoc-gen-openapiv2:
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)

## proto: regenerate Go, gRPC, gateway and OpenAPI code from proto/. The OpenAPI document then gets the routes
## that are not RPCs (the evidence export), written by hand in signoff_openapi_routes.yaml.
proto: tools
	$(BIN)/buf lint
	$(BIN)/buf generate
	$(GO) run gateway/openapi_merge.go proto/signoff/v1/signoff.swagger.json proto/signoff/v1/signoff_openapi_routes.yaml

## proto-check: fail when the committed generated code is stale.
proto-check: proto
	@git diff --exit-code -- proto/ || (echo "generated code in proto/ is stale: run 'make proto' and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- proto/)" || (git status --porcelain -- proto/; echo "untracked generated files in proto/: run 'make proto' and commit" >&2; exit 1)

clean:
	rm -rf $(BIN) .signoff-data
