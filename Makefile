# lvskit — the two commands a newcomer runs (as root, on Debian 12):
#   make demo   builds the book's cluster in network namespaces and drives it
#   make test   installs what the tests need, then runs every tier
# and the one an operator runs:
#   make install   the director, router and realserver binaries in
#                  $(PREFIX)/sbin and the director's systemd unit in
#                  $(PREFIX)/lib/systemd/system (DESTDIR prefixes both)
# and a second demo:
#   make demo-ecmp  three active directors behind an FRR router (BGP, BFD, ECMP)
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 0

GO        ?= go
PKGS      ?= ./...
BENCHDIR  ?= bench-results
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME  ?= 20s

BIN       ?= bin
PREFIX    ?= /usr/local
SBINDIR   ?= $(PREFIX)/sbin
UNITDIR   ?= $(PREFIX)/lib/systemd/system
DESTDIR   ?=

.PHONY: all build install demo demo-ecmp test test-deps test-unit test-netns test-kernel bench compat fuzz lint clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./examples/...

# The unit names the director by its path: the copy installed says
# $(SBINDIR)/director.
install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 $(BIN)/director $(BIN)/router $(BIN)/realserver $(DESTDIR)$(SBINDIR)/
	sed 's|/usr/local/sbin/director|$(SBINDIR)/director|' examples/systemd/lvskit-director.service > $(DESTDIR)$(UNITDIR)/lvskit-director.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/lvskit-director.service

demo: build
	$(BIN)/cluster

# Needs FRR (Debian's frr package, which make test-deps installs).
demo-ecmp: build
	$(BIN)/ecmp

test-deps:
	bash scripts/install-test-deps.sh

# Tier 1: pure unit tests (codecs, timers, state machines, diff, schedulers,
# parser, checkers on loopback).
test-unit:
	$(GO) test -count=1 -timeout 10m -skip 'TestIntegration|TestKernel' $(PKGS)
	# the proxy's fallback data path (goroutines, io.Copy) passes the same tests
	$(GO) test -count=1 -timeout 5m ./ipvs/internal/proxy -args -proxy.goroutines

# Tier 2: network-namespace tests (root): real sockets between namespaces,
# keepalived as a VRRP peer, tshark as the judge of the wire.
test-netns:
	$(GO) test -count=1 -timeout 10m -run 'TestIntegration' $(PKGS)

# Tier 3: a Debian kernel with IPVS under qemu, ipvsadm as the observer.
test-kernel:
	$(GO) test -count=1 -timeout 15m -run 'TestKernel' $(PKGS)

test: test-deps
	$(GO) vet $(PKGS)
	$(MAKE) test-unit
	$(MAKE) test-netns
	$(MAKE) test-kernel

bench: test-deps
	bash scripts/bench.sh $(BENCHDIR)

# The director next to keepalived 2.2.7 on the fidelity suite and Debian's
# keepalived samples (root): prints the table README.md quotes; exit 1 on a
# difference internal/compat does not name.
compat: test-deps
	$(GO) run ./internal/compat/cmd/compat

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

lint:
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

clean:
	rm -rf $(BIN) $(BENCHDIR)
