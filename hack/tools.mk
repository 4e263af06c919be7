# Test peers built from their Go modules, each in its own module under hack/
# so the product's go.mod stays clean. Included by the root Makefile.
# Real file targets: a tool is rebuilt only when its module changes.

# The siderolabs forks are not in the checksum database.
HACK_ENV := GOWORK=off GOFLAGS=-mod=mod GONOSUMDB=github.com/smira,github.com/siderolabs

TOOLS := bin/talosctl bin/kube bin/etcd

tools: $(TOOLS)

bin/talosctl: hack/talosctl/go.mod hack/talosctl/go.sum
	@mkdir -p bin
	@echo "building talosctl v1.12.6 from its Go module (first time ~3 min on 2 cores)…"
	cd hack/talosctl && $(HACK_ENV) $(GO) build -o $(CURDIR)/$@ github.com/siderolabs/talos/cmd/talosctl

bin/kube: hack/kube/go.mod hack/kube/go.sum hack/kube/main.go
	@mkdir -p bin
	@echo "building kube-apiserver/controller-manager/scheduler v1.37.2 as one binary (first time ~5 min)…"
	cd hack/kube && $(HACK_ENV) $(GO) build -o $(CURDIR)/$@ .

bin/etcd: hack/etcd/go.mod hack/etcd/go.sum hack/etcd/main.go
	@mkdir -p bin
	@echo "building etcd v3.6.16 (first time ~1 min)…"
	cd hack/etcd && $(HACK_ENV) $(GO) build -o $(CURDIR)/$@ .
