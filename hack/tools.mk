# Test peers built from their Go modules, each in its own module under hack/
# so the product's go.mod stays clean. Included by the root Makefile; see
# docs/tools.md. Real file targets: a tool is rebuilt only when its module
# (go.mod, go.sum, *.go) or this file changes, so `make tools` is instant once done.

GO ?= go

TALOSCTL_VERSION := v1.12.6
KUBE_VERSION     := v1.37.2
ETCD_VERSION     := v3.6.16

# Own modules, never the repository's go.work; -mod=mod lets a module whose
# go.sum lacks a line fetch it instead of failing. The siderolabs and smira
# forks talosctl needs are not in the checksum database.
TOOLS_ENV := GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" GONOSUMDB=github.com/smira,github.com/siderolabs

# -s -w as the upstream release builds: no DWARF, a third smaller, faster link.
KUBE_VERSION_X := $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(p).gitVersion=$(KUBE_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=37 -X $(p).gitTreeState=clean)

TOOLS := bin/talosctl bin/kube bin/etcd

# Extra go build flags: liftoff sim passes -v to count the packages of the
# control plane's first build as its progress (internal/toolbuild).
TOOLS_BUILD_FLAGS ?=

.PHONY: tools
tools: $(TOOLS)

# go build leaves an up-to-date output untouched, hence the touch.
bin/talosctl: hack/talosctl/go.mod hack/talosctl/go.sum $(wildcard hack/talosctl/*.go) hack/tools.mk
	@mkdir -p $(CURDIR)/bin
	@echo "building talosctl $(TALOSCTL_VERSION) from github.com/siderolabs/talos (first time ~4 min)…"
	@cd $(CURDIR)/hack/talosctl && $(TOOLS_ENV) $(GO) build $(TOOLS_BUILD_FLAGS) -ldflags="-s -w" -o $(CURDIR)/$@ github.com/siderolabs/talos/cmd/talosctl
	@touch $(CURDIR)/$@

bin/kube: hack/kube/go.mod hack/kube/go.sum $(wildcard hack/kube/*.go) hack/tools.mk
	@mkdir -p $(CURDIR)/bin
	@echo "building kube (apiserver, controller-manager, scheduler) $(KUBE_VERSION) from k8s.io/kubernetes (first time ~6 min)…"
	@cd $(CURDIR)/hack/kube && $(TOOLS_ENV) $(GO) build $(TOOLS_BUILD_FLAGS) -ldflags="-s -w $(KUBE_VERSION_X)" -o $(CURDIR)/$@ .
	@touch $(CURDIR)/$@

bin/etcd: hack/etcd/go.mod hack/etcd/go.sum $(wildcard hack/etcd/*.go) hack/tools.mk
	@mkdir -p $(CURDIR)/bin
	@echo "building etcd $(ETCD_VERSION) from go.etcd.io/etcd/server/v3 (first time ~1 min)…"
	@cd $(CURDIR)/hack/etcd && $(TOOLS_ENV) $(GO) build $(TOOLS_BUILD_FLAGS) -ldflags="-s -w" -o $(CURDIR)/$@ .
	@touch $(CURDIR)/$@

# The packages a tool's build compiles at most, one per line (fetching its
# modules first): what liftoff sim counts the first build's progress against.
.PHONY: tool-deps-kube tool-deps-etcd
tool-deps-kube tool-deps-etcd: tool-deps-%:
	@cd $(CURDIR)/hack/$* && $(TOOLS_ENV) $(GO) list -deps .
