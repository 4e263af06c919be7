# liftoff — the two commands a fresh machine needs are `make demo` and `make test`.
GO ?= go
GOFILES := $(shell find . -name '*.go' -not -path './hack/*' -not -path './bin/*')

.PHONY: build test vet fmt-check tidy-check demo bench bench-setup tools clean

build: bin/liftoff

bin/liftoff: $(GOFILES) go.mod go.sum
	@mkdir -p bin
	@GO=$(GO) hack/gobuild.sh $@ ./cmd/liftoff

# Test peers (official talosctl, Kubernetes control plane, etcd) built from
# their Go modules; see hack/ and docs/tools.md.
tools:
-include hack/tools.mk

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# go.mod says what the code imports: direct requirements not marked
# indirect, nothing missing or unused (go mod tidy would change nothing).
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

# The tests that drive talosctl or the control plane find them in bin/; CI
# sets LIFTOFF_REQUIRE_TOOLS=1 so a missing tool fails instead of skipping.
test: tools fmt-check tidy-check vet
	$(GO) test -count=1 -timeout 30m ./...

# Every benchmark, raw results in $(BENCH_OUT) (benchstat reads it; the
# header lines are its configuration keys) — docs/perf.md explains them.
# -p 1: no package builds while another's benchmark runs (2 cores). The
# lab bring-ups run once each (the lab's, the quit's, the 50- and 200-board
# memory walks: ~15 min on 2 cores, hence -timeout); BENCH_FLAGS=-short
# skips them, and so does BENCH_COLD= the cold make demo (a fresh clone
# with empty Go caches: every module downloaded, everything compiled,
# ~15 min more).
BENCH_OUT ?= bench.txt
BENCH_FLAGS ?=
BENCH_COLD ?= 1
bench: bench-setup
	@{ echo "date: $$(date -u +%Y-%m-%dT%H:%MZ)"; echo "go: $$($(GO) env GOVERSION)"; \
	  echo "cores: $$(nproc)"; echo "mem: $$(awk '/MemTotal/ {printf "%.0fGiB", $$2/1048576}' /proc/meminfo)"; } > $(BENCH_OUT)
	@{ LIFTOFF_BENCH_COLD=$(BENCH_COLD) $(GO) test -p 1 -timeout 90m -run '^$$' -bench . -benchmem $(BENCH_FLAGS) ./... 2>&1; echo $$? > $(BENCH_OUT).rc; } | tee -a $(BENCH_OUT)
	@rc=$$(cat $(BENCH_OUT).rc); rm -f $(BENCH_OUT).rc; exit $$rc

# What the benchmarks need beyond Go: Debian's nmap, which the /24
# discovery benchmark races (cluster/discover BenchmarkScanSilent24).
# Installed as root with apt-get when missing; otherwise that half of the
# benchmark skips and says so.
bench-setup:
	@command -v nmap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "bench-setup: installing nmap (apt-get)"; \
	    { apt-get install -y -qq nmap >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq nmap >/dev/null 2>&1; }; } \
	      || echo "bench-setup: nmap could not be installed: the discovery benchmark runs without it"; \
	  else echo "bench-setup: no nmap, and not root with apt-get: the discovery benchmark runs without it"; fi; }

# The dashboard on the simulated lab. It waits only for liftoff's own build
# (its progress shown): on a fresh machine liftoff sim then builds the control
# plane (bin/kube, bin/etcd; never talosctl, which the demo does not run) in
# the background while the wizard's discovery, roles, review and apply go
# on, and only the bootstrap waits for it (docs/perf.md, issue 18 goal 1).
demo: build
	bin/liftoff sim $(DEMO_FLAGS)

clean:
	rm -rf bin

# Every main screen as PNG and plain text under screenshots/, and the
# bring-up as an animated GIF (bringup.gif), replayed from the recordings
# in screenshots/fixtures at a fixed clock: no lab, no network, the same
# bytes on every run. A test fails when they are stale.
.PHONY: screenshots screenshot-fixtures
screenshots:
	$(GO) run ./cmd/screenshots -out screenshots

# Re-records those fixtures from the simulated lab (liftoff sim --headless
# --record, liftoff check --sim happy --json), then the screenshots.
screenshot-fixtures: tools build
	$(GO) run ./cmd/screenshots -out screenshots -fixtures -liftoff bin/liftoff
	$(GO) run ./cmd/screenshots -out screenshots
