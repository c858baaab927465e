# pathpin's build, test, benchmark and demo entry points.
# `make test` installs what it needs on a fresh Debian 12 machine (as root).

export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test test-host test-arm test-vm deb deps lint unit bench demo cross clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pathpin ./cmd/pathpin

## deps: Debian packages (only those missing) and Go modules.
deps:
	@scripts/install-deps
	$(GO) mod download

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt wants to change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## unit: tests that need no root (privileged ones skip themselves).
unit:
	$(GO) test -race -count=1 ./...

## test: everything CI runs. As root the namespace tests run too, and the
## end-to-end tests in the VM (a stock Debian kernel with PPP and 802.1Q).
test: deps lint test-host test-arm deb test-vm

## test-host: the status page's screenshots are kept in build/artifacts.
test-host:
	mkdir -p build/artifacts
	PATHPIN_ARTIFACTS=$(CURDIR)/build/artifacts $(GO) test -race -count=1 -timeout 20m ./...

## test-arm: every package's unit tests built for the Pi 2 (linux/arm,
## GOARM=7), run under qemu-arm-static as an unprivileged user.
test-arm:
	scripts/test-arm

## deb: dist/pathpin_<version>_{amd64,arm64,armhf}.deb, checked by lintian.
deb:
	scripts/build-deb

## test-vm: PPP and VLANs on a stock Debian kernel, then the package
## installed on a booted Debian with systemd as PID 1.
test-vm: deb
	@if [ "$$(id -u)" = 0 ]; then vm/test && PATHPIN_DEB=$$(ls -t dist/pathpin_*_amd64.deb | head -n1) vm/systemd-test; else echo "skipping the VM tests: they need root (make test as root runs them)"; fi

## bench: side-by-side measurements; prints ratios.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./...
	PATHPIN_BENCH=1 vm/test
	vm/systemd-test

## demo: the seed topology (PPPoE over VLAN 1000 + a static line) working,
## in network namespaces, inside the VM when this kernel lacks PPP/802.1Q.
demo: deps
	@vm/demo

## cross: the release binaries (Raspberry Pi 2 = linux/arm GOARM=7).
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pathpin-linux-armv7 ./cmd/pathpin
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pathpin-linux-arm64 ./cmd/pathpin
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pathpin-linux-amd64 ./cmd/pathpin

clean:
	rm -rf bin build dist
