# cairn: every CI step is a target here.
GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2
BIN       := $(CURDIR)/bin

# Where make install puts things; DESTDIR prefixes them all (for packagers).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
DOCDIR      ?= $(PREFIX)/share/doc/cairn
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
EXAMPLEDIR  ?= $(PREFIX)/share/cairn
DISTDIR     ?= $(CURDIR)/dist
DIST_NAME   := cairn-$(VERSION)-$(shell $(GO) env GOOS)-$(shell $(GO) env GOARCH)

.PHONY: all build run test test-short bench lint fuzz e2e chaos cover clean install install-service dist

all: lint test

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/cairn ./cmd/cairn
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/cairn-bench ./cmd/cairn-bench

# run starts one node on the embedded defaults: data in ./cairn-data,
# listening on 127.0.0.1.
run: build
	$(BIN)/cairn serve

# test runs everything under the race detector, then the tests that move
# a GiB (the memory bound of a put, the disk GC gives back), which the
# race detector would distort and slow down tenfold.
test:
	$(GO) test -race -timeout 20m $(PKGS)
	$(GO) test -run 'Memory|FreesDisk' -count=1 ./cas ./daemon

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
	$(GO) mod tidy -diff
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

# install puts cairn and cairn-bench in $(BINDIR) (/usr/local/bin by
# default; PREFIX=$$HOME/.local for ~/.local/bin).
install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN)/cairn $(BIN)/cairn-bench $(DESTDIR)$(BINDIR)/
	@echo "installed $(DESTDIR)$(BINDIR)/cairn and $(DESTDIR)$(BINDIR)/cairn-bench"

# install-service adds the systemd units, the cairn user (sysusers.d), an
# example configuration and the docs; deploy/README.md says what next.
install-service: install
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(EXAMPLEDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' deploy/cairn.service > $(DESTDIR)$(UNITDIR)/cairn.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/cairn.service
	install -m 0644 deploy/cairn-http.socket deploy/cairn-cluster.socket $(DESTDIR)$(UNITDIR)/
	install -m 0644 deploy/cairn.sysusers $(DESTDIR)$(SYSUSERSDIR)/cairn.conf
	install -m 0644 deploy/cairn.yaml $(DESTDIR)$(EXAMPLEDIR)/cairn.yaml.example
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 deploy/README.md $(DESTDIR)$(DOCDIR)/deploy.md
	@echo "installed the units in $(DESTDIR)$(UNITDIR); see $(DOCDIR)/deploy.md"

# dist makes $(DISTDIR)/cairn-<version>-<os>-<arch>.tar.gz: the binaries,
# the systemd units (for /usr/local/bin), the example configuration, the
# README and the docs. No Docker: the binaries are static (no cgo), so they
# run on any Linux of the same architecture.
dist:
	rm -rf $(DISTDIR)/$(DIST_NAME) $(DISTDIR)/$(DIST_NAME).tar.gz
	install -d $(DISTDIR)/$(DIST_NAME)/bin $(DISTDIR)/$(DIST_NAME)/deploy $(DISTDIR)/$(DIST_NAME)/docs
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DISTDIR)/$(DIST_NAME)/bin/cairn ./cmd/cairn
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(DISTDIR)/$(DIST_NAME)/bin/cairn-bench ./cmd/cairn-bench
	sed -e 's|@BINDIR@|/usr/local/bin|g' -e 's|@DOCDIR@|/usr/local/share/doc/cairn|g' deploy/cairn.service > $(DISTDIR)/$(DIST_NAME)/deploy/cairn.service
	install -m 0644 deploy/cairn-http.socket deploy/cairn-cluster.socket deploy/cairn.sysusers deploy/cairn.yaml deploy/README.md $(DISTDIR)/$(DIST_NAME)/deploy/
	install -m 0644 README.md $(DISTDIR)/$(DIST_NAME)/
	install -m 0644 docs/*.md $(DISTDIR)/$(DIST_NAME)/docs/
	tar -C $(DISTDIR) --sort=name --owner=0 --group=0 --numeric-owner \
	  --mtime=@$$(git log -1 --format=%ct 2>/dev/null || date +%s) -czf $(DISTDIR)/$(DIST_NAME).tar.gz $(DIST_NAME)
	rm -rf $(DISTDIR)/$(DIST_NAME)
	@echo "$(DISTDIR)/$(DIST_NAME).tar.gz"

clean:
	rm -rf $(BIN) $(DISTDIR) cover.out
