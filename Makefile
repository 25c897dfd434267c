# kubequeue: run `make help` for the targets.

GO ?= go
# The Go modules of the repository: kubequeue itself (the root), the local
# cluster, the integration tests, the demo, the command and the
# observability packages. The others are modules of their own so that their
# dependencies (virtual-kubelet, cobra, OpenTelemetry, ...) never reach
# kubequeue's go.mod; each is tested on its own.
MODULES := . localcluster integration examples/demo cmd/kubequeue kubequeueotel kubequeueprom
# The modules with benchmarks.
BENCH_MODULES := . integration

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# make demo KUBECONFIG=path runs the demo on that cluster (printmessage then
# needs PRINTMESSAGE_IMAGE); a KUBECONFIG that only comes from the
# environment is ignored, so the demo never lands on a cluster by accident.
ifeq ($(origin KUBECONFIG),command line)
DEMO_FLAGS += -kubeconfig '$(abspath $(KUBECONFIG))'
endif

.PHONY: demo
demo: ## Enqueue the examples on a local cluster (or KUBECONFIG=...) and show how they ran.
	@echo "Compiling the demo (a minute or two the first time)..."
	cd examples/demo && $(GO) run . $(DEMO_FLAGS)

.PHONY: test
test: lint localcluster ## Run every test of every module (what CI runs): unit and integration, race detector, each benchmark once.
	@set -e; for m in $(MODULES); do \
		echo "== go test -race $$m"; \
		(cd $$m && $(GO) test -race -count=1 -timeout 20m ./...); \
	done
	@set -e; for m in $(BENCH_MODULES); do \
		echo "== go test -bench $$m"; \
		(cd $$m && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./...); \
	done
	@echo "== bench -smoke (the bench program at a tiny scale: checks that it works, not the targets)"
	cd integration && $(GO) run ./cmd/bench -smoke

.PHONY: localcluster
localcluster: ## Install the local cluster's binaries and Kueue once (a download, or builds of about 9 and 4 minutes on 2 cores), cached in ~/.cache/kubequeue/localcluster.
	@echo "Checking the local cluster's binaries and Kueue (compiling the installer takes a minute the first time)..."
	cd localcluster && $(GO) run ./cmd/localcluster install -kueue

# The target's former name.
.PHONY: controlplane
controlplane: localcluster

.PHONY: cluster
cluster: ## Run a local cluster until Ctrl-C; it prints the KUBECONFIG to use.
	cd localcluster && $(GO) run ./cmd/localcluster up

.PHONY: test-short
test-short: ## Run the unit tests only (go test -short: no cluster).
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -short -count=1 ./...); done

.PHONY: bench
bench: localcluster ## Measure kubequeue beside raw client-go on a local cluster: one table and RATIO lines, from one run of about ten minutes.
	cd integration && $(GO) run ./cmd/bench

.PHONY: bench-go
bench-go: localcluster ## Run the Go benchmarks, kubequeue beside raw client-go, with allocations.
	@set -e; for m in $(BENCH_MODULES); do (cd $$m && $(GO) test -run '^$$' -bench . -benchmem -count 5 ./...); done

.PHONY: lint
lint: ## go vet in every module, and fail if gofmt would change a file.
	@set -e; for m in $(MODULES); do echo "== go vet $$m"; (cd $$m && $(GO) vet ./...); done
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: examples
examples: ## Build the example programs into bin/.
	$(GO) build -o bin/ ./examples/...
	cd examples/demo && $(GO) build -o ../../bin/ .
