# kubequeue: run `make help` for the targets.

GO ?= go
PKGS := ./...
# The local kubelet is a module of its own (it brings virtual-kubelet's
# dependencies, which kubequeue's users should not inherit).
KUBELET := internal/localkubelet

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# make demo KUBECONFIG=path runs the demo on that cluster (printmessage then
# needs PRINTMESSAGE_IMAGE); a KUBECONFIG that only comes from the
# environment is ignored, so the demo never lands on a cluster by accident.
ifeq ($(origin KUBECONFIG),command line)
DEMO_FLAGS += -kubeconfig '$(KUBECONFIG)'
endif

.PHONY: demo
demo: ## Enqueue the examples on the embedded control plane (or KUBECONFIG=...) and show how they ran.
	@echo "Compiling the demo (a minute or two the first time)..."
	$(GO) run ./examples/demo $(DEMO_FLAGS)

.PHONY: test
test: lint controlplane ## Run every test (what CI runs): unit and integration, race detector, each benchmark once.
	cd $(KUBELET) && $(GO) test -race -count=1 -timeout 5m ./...
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m $(PKGS)
	$(GO) run ./integration/cmd/bench -smoke

.PHONY: controlplane
controlplane: ## Build the embedded control plane and the local kubelet once (about 11 minutes on 2 cores), cached in ~/.cache/kubequeue.
	@echo "Checking the embedded control plane's binaries (compiling the builder takes a minute or two the first time)..."
	$(GO) run ./internal/cmd/controlplane build

.PHONY: test-short
test-short: ## Run the unit tests only (go test -short: no control plane).
	$(GO) test -short -count=1 $(PKGS)
	cd $(KUBELET) && $(GO) test -short -count=1 ./...

.PHONY: bench
bench: controlplane ## Measure kubequeue beside raw client-go on the embedded control plane: one table, RATIO lines (a few minutes).
	$(GO) run ./integration/cmd/bench

.PHONY: bench-go
bench-go: controlplane ## Run the Go benchmarks, kubequeue beside raw client-go, with allocations.
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $(PKGS)

.PHONY: lint
lint: ## go vet, and fail if gofmt would change a file.
	$(GO) vet $(PKGS)
	cd $(KUBELET) && $(GO) vet ./...
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: examples
examples: ## Build the example programs into bin/.
	$(GO) build -o bin/ ./examples/...
