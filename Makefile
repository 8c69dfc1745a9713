# cairn: every CI step is a target here.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2
BIN       := $(CURDIR)/bin

.PHONY: all build run test test-short bench lint fuzz e2e chaos cover clean

all: lint test

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/cairn ./cmd/cairn

# run starts one node on the embedded defaults: data in ./cairn-data,
# listening on 127.0.0.1.
run: build
	$(BIN)/cairn serve

# test runs everything under the race detector, then the memory bound of
# a 1 GiB put, which the race detector's own memory would distort.
test:
	$(GO) test -race -timeout 20m $(PKGS)
	$(GO) test -run 'Memory' -count=1 ./cas

test-short:
	$(GO) test -short $(PKGS)

# bench runs the micro benchmarks six times for benchstat.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=6 -timeout 60m $(PKGS)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(BIN)/staticcheck $(PKGS)
	./.ci/layering

# fuzz runs every fuzz target briefly.
FUZZTIME ?= 15s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# e2e drives a real cairn binary with real clients (awscli, boto3, rclone,
# s3cmd, python3-xgboost); .ci/run installs them.
e2e: build
	CAIRN_BIN=$(BIN)/cairn $(GO) test -race -tags e2e -timeout 20m ./daemon/e2e/...

# chaos runs the fault scenarios over and over (each run a fresh cluster
# with its own timings): leader killed during writes, partitions, a
# minority lost, restarts, processes killed with SIGKILL, and the
# linearizability check. CHAOS_COUNT=50 for a long soak.
CHAOS_COUNT ?= 10
CHAOS_TESTS = TestCluster_(LeaderLoss|Partition|FiveNodesLoseTwo|RestartCatchesUp|Membership|Linearizable|ProcessesKillLeader)|TestCrash_KillDuringUploads
chaos: build
	CAIRN_BIN=$(BIN)/cairn $(GO) test -race -count=$(CHAOS_COUNT) -timeout 0 -run '^($(CHAOS_TESTS))$$' ./daemon

cover:
	$(GO) test -coverprofile=cover.out $(PKGS)
	$(GO) tool cover -func=cover.out | tail -1

clean:
	rm -rf $(BIN) cover.out
