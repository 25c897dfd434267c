# kubequeue: run `make help` for the targets.

GO ?= go
PKGS := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: test
test: lint ## Run every test (what CI runs), with the race detector, and each benchmark once.
	$(GO) test -race -count=1 $(PKGS)
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

.PHONY: test-short
test-short: ## Run the quick tests only (go test -short).
	$(GO) test -short -count=1 $(PKGS)

.PHONY: bench
bench: ## Run the benchmarks, kubequeue beside raw client-go, with allocations.
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $(PKGS)

.PHONY: lint
lint: ## go vet, and fail if gofmt would change a file.
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: examples
examples: ## Build the example programs into bin/.
	$(GO) build -o bin/ ./examples/...
