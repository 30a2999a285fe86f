# agentgroup-operator. Every target builds what it needs into bin/ (git-ignored).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN       := $(CURDIR)/bin
K8S_BIN   := $(BIN)/k8s
KUBECTL   ?= $(K8S_BIN)/kubectl

# Tools, pinned.
CONTROLLER_GEN_VERSION ?= v0.23.0
GOTESTSUM_VERSION      ?= v1.13.0
HELM_VERSION           ?= v4.3.1
KREW_VERSION           ?= v0.4.3
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOTESTSUM      := $(BIN)/gotestsum-$(GOTESTSUM_VERSION)
HELM           := $(BIN)/helm-$(HELM_VERSION)
KREW           := $(BIN)/krew-$(KREW_VERSION)

# The release's version (what the manager prints with --version, the
# image's labels and default tag) and the image the installer pins.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMG      ?= ghcr.io/agentgroups/agentgroup-operator:$(VERSION)
LDFLAGS  := -X github.com/agentgroups/agentgroup-operator/internal/version.Version=$(VERSION)

K8S_BINS := $(K8S_BIN)/kube-apiserver $(K8S_BIN)/etcd $(K8S_BIN)/kubectl $(K8S_BIN)/kube-controller-manager
K8S_BINS_SRC := hack/k8s-bins/go.mod hack/k8s-bins/go.sum
THIRDPARTY_CRDS_SRC := hack/thirdparty-crds/main.go hack/thirdparty-crds/go.mod hack/thirdparty-crds/go.sum

FUZZTIME ?= 10s
TEST_FLAGS ?= -race -count=1

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

print-%: ## Print a make variable (print-PLUGIN_PLATFORMS), for scripts and tests.
	@echo $($*)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the markers (and the chart's copy of them).
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	@$(MAKE) --no-print-directory chart

# The files of config/ the Helm chart reads (.Files.Get) instead of
# retyping them: the generated CRDs and manager rules, and the other roles'
# rules. `make chart` copies them into $(CHART)/files/ under the same
# paths; one more file is one more line here.
CHART := charts/agentgroup-operator
CHART_FILES := \
	$(wildcard config/crd/bases/*.yaml) \
	config/rbac/role.yaml \
	config/rbac/leader_election_role.yaml \
	config/rbac/metrics_auth_role.yaml \
	config/rbac/metrics_reader_role.yaml \
	config/rbac/agentgroup_editor_role.yaml \
	config/rbac/agentgroup_viewer_role.yaml \
	config/prometheus/prometheus_rule.yaml

.PHONY: chart
chart: ## Copy the generated CRDs and RBAC rules into the Helm chart (make manifests runs it).
	@rm -rf $(CHART)/files/config
	@for f in $(CHART_FILES); do mkdir -p $(CHART)/files/$$(dirname $$f) && cp $$f $(CHART)/files/$$f; done

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: verify-gen
verify-gen: manifests generate ## Fail when generated files are stale.
	@git diff --exit-code -- config/crd config/rbac api charts && [ -z "$$(git status --porcelain --untracked-files=all -- config/crd config/rbac api charts)" ] || { git status --short -- config/crd config/rbac api charts; echo "generated files are stale or not committed: run 'make manifests generate' and commit"; exit 1; }

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: test
test: manifests generate vet $(GOTESTSUM) $(K8S_BINS) ## Unit and envtest suites (real kube-apiserver and etcd from bin/k8s).
	KUBEBUILDER_ASSETS=$(K8S_BIN) $(GOTESTSUM) --format pkgname-and-test-fails -- $(TEST_FLAGS) ./...
	$(MAKE) fuzz
	$(MAKE) test-packaging

# Each packaging target adds itself as a prerequisite next to its own rule
# (`test-packaging: image`), so this list stays in one place per concern.
.PHONY: test-packaging
test-packaging: build $(GOTESTSUM) $(K8S_BINS) ## What ships beside the manager: image, installer, chart, Argo CD health, alerts, dashboard, the plugin's krew manifest.
	cd test/packaging && go vet ./... && KUBEBUILDER_ASSETS=$(K8S_BIN) BIN=$(BIN) $(GOTESTSUM) --format pkgname-and-test-fails -- -count=1 ./...

.PHONY: test-e2e
test-e2e: build $(GOTESTSUM) $(K8S_BINS) ## Black-box e2e: built binaries, real kubectl, chaos, leader election.
	$(GOTESTSUM) --format standard-verbose -- -tags e2e -count=1 -timeout 30m ./test/e2e

# The e2e suite installs with dist/install.yaml and with the rendered chart.
test-e2e: build-installer $(HELM)
test-e2e: export HELM := $(HELM)

# The chart's tests run bin/helm; the plugin's, krew.
test-packaging: $(HELM) $(KREW)
test-packaging: export HELM := $(HELM)
test-packaging: export KREW := $(KREW)

.PHONY: fuzz
fuzz: ## A short run of the response-decoding fuzz test.
	go test -run '^$$' -fuzz '^FuzzDecodeResponse$$' -fuzztime $(FUZZTIME) ./internal/groupapi

# What each landed version stores, captured by running it: the objects
# today's types and manager must read (docs/development.md, "Changing what
# the operator stores"). VERSIONS=c05e45c,...: only those.
.PHONY: stored-testdata
stored-testdata: $(K8S_BINS) ## Capture what landed versions store into testdata/stored (VERSIONS=commit,…: only those).
	go run ./hack/stored $(if $(VERSIONS),-versions $(VERSIONS))

##@ Demo

.PHONY: demo
demo: build $(K8S_BINS) ## Run the whole product locally, show convergence, drift and deletion, tear down.
	go run ./hack/demo

.PHONY: demo-up
demo-up: build $(K8S_BINS) ## Like demo, but leave it running (make demo-down stops it).
	@mkdir -p .demo-run
	@go build -o $(BIN)/demo ./hack/demo
	@nohup $(BIN)/demo --keep > .demo-run/demo.out 2>&1 & echo $$! > .demo-run/pid
	@for i in $$(seq 1 180); do [ -f .demo/ready ] && break; kill -0 $$(cat .demo-run/pid) 2>/dev/null || { cat .demo-run/demo.out; exit 1; }; sleep 1; done; cat .demo-run/demo.out

.PHONY: demo-down
demo-down: ## Stop what make demo-up started.
	@if [ -f .demo-run/pid ]; then kill $$(cat .demo-run/pid) 2>/dev/null || true; while kill -0 $$(cat .demo-run/pid) 2>/dev/null; do sleep 1; done; rm -rf .demo-run; echo "demo stopped"; fi

##@ Benchmarks

# BENCH_QUICK=1: CI-sized (100 and 1,000 groups, a shorter naive run), a few
# minutes, results in bin/bench only. Without it: 1,000 and 10,000 groups at
# 50 requests/s per Account and 1,000 at 5, the 10,000-group cold start
# again with two sharded managers, and docs/benchmarks.md is rewritten with
# the table and chart.
comma := ,
BENCH_ARGS ?= $(if $(BENCH_QUICK),-runs 100@50$(comma)1000@50$(comma)200@5 -naive-max 200 -profile=false,-docs docs/benchmarks.md -shards 2)

.PHONY: bench
bench: build $(K8S_BINS) ## Measure calls, time to Ready, RSS and CPU against a naive script (BENCH_QUICK=1: a few minutes).
	go run ./hack/bench $(BENCH_ARGS)

##@ Build

.PHONY: build
build: ## Build bin/manager, bin/groupapi-sim and bin/kubectl-agentgroup.
	go build -ldflags '$(LDFLAGS)' -o $(BIN)/manager .
	go build -o $(BIN)/groupapi-sim ./cmd/groupapi-sim
	go build -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-agentgroup ./cmd/kubectl-agentgroup

# make plugin-dist: the release archives of kubectl-agentgroup for each of
# PLUGIN_PLATFORMS in dist/plugin/, and its krew manifest, rendered from
# plugins/agentgroup.yaml with their sha256s, in dist/krew/agentgroup.yaml.
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
PLUGIN_DIST_FLAGS ?=

.PHONY: plugin-dist
plugin-dist: ## Archives of kubectl-agentgroup for PLUGIN_PLATFORMS and the krew manifest, in dist/.
	go run ./hack/plugin-dist -tag '$(VERSION)' -platforms '$(PLUGIN_PLATFORMS)' -ldflags '$(LDFLAGS)' \
		-source-date-epoch '$(SOURCE_DATE_EPOCH)' $(PLUGIN_DIST_FLAGS)

# make image: the same image as the Dockerfile, built here with no daemon
# and no network (hack/image, a module of its own so that
# go-containerregistry stays out of the manager's go.mod). The CA bundle
# is the build machine's (the manager calls the Group API over HTTPS);
# SOURCE_DATE_EPOCH (default: the last commit's time) dates the image, so
# the same sources and bundle give the same image.
IMAGE_TAR         ?= $(BIN)/image/agentgroup-operator.tar
IMAGE_ARCH        ?= $(shell go env GOARCH)
CA_BUNDLE         ?= $(firstword $(wildcard /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem))
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_BUILDER     := $(BIN)/image-builder

.PHONY: image
image: $(IMAGE_BUILDER) ## Build the image with no daemon: bin/image/agentgroup-operator.tar, tagged IMG (docker load, kind load image-archive, crane push).
	$(if $(CA_BUNDLE),,$(error no CA bundle found on this machine: set CA_BUNDLE to a PEM file of CA certificates))
	@mkdir -p $(dir $(IMAGE_TAR))
	CGO_ENABLED=0 GOOS=linux GOARCH=$(IMAGE_ARCH) go build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $(dir $(IMAGE_TAR))manager-linux-$(IMAGE_ARCH) .
	$(IMAGE_BUILDER) -binary $(dir $(IMAGE_TAR))manager-linux-$(IMAGE_ARCH) -ca-bundle '$(CA_BUNDLE)' \
		-tag '$(IMG)' -version '$(VERSION)' -revision '$(REVISION)' -arch $(IMAGE_ARCH) -created $(SOURCE_DATE_EPOCH) -out $(IMAGE_TAR)
	@echo "wrote $(IMAGE_TAR) ($(IMG))"

$(IMAGE_BUILDER): hack/image/go.mod hack/image/go.sum $(wildcard hack/image/*.go)
	@mkdir -p $(BIN)
	cd hack/image && go build -o $@ .

.PHONY: run
run: manifests generate ## Run the manager against the cluster in KUBECONFIG.
	go run . --leader-elect=false

.PHONY: k8s-bins
k8s-bins: $(K8S_BINS) ## Build kube-apiserver, etcd, kubectl, kube-controller-manager into bin/k8s.

# k8s.io/kubernetes cannot be a dependency of the main module (its staging
# replaces), so hack/k8s-bins is a module of its own; a binary is rebuilt
# only when that module's pinned versions change.
$(K8S_BIN)/kube-apiserver $(K8S_BIN)/kubectl $(K8S_BIN)/kube-controller-manager: $(K8S_BINS_SRC)
	@mkdir -p $(K8S_BIN)
	@echo "building $(@F) from the module proxy (cold: several minutes)"
	cd hack/k8s-bins && go build -o $@ k8s.io/kubernetes/cmd/$(@F)

$(K8S_BIN)/etcd: $(K8S_BINS_SRC) hack/k8s-bins/etcd/main.go
	@mkdir -p $(K8S_BIN)
	cd hack/k8s-bins && go build -o $@ ./etcd

.PHONY: thirdparty-crds
thirdparty-crds: $(BIN)/crds/SOURCES ## Write other projects' CRDs (ServiceMonitor, PrometheusRule, Argo CD, Flux) into bin/crds, for dry-runs.

# Versions are pinned in hack/thirdparty-crds (go.mod, and main.go for Argo
# CD); SOURCES, written last, lists what each file came from.
$(BIN)/crds/SOURCES: $(THIRDPARTY_CRDS_SRC) $(CONTROLLER_GEN)
	cd hack/thirdparty-crds && go run . -controller-gen $(CONTROLLER_GEN) -out $(BIN)/crds

# The alerts' tests dry-run config/prometheus against these CRDs.
test-packaging: thirdparty-crds

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster in KUBECONFIG.
	$(KUBECTL) apply --server-side -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs and every AgentGroup with them (stops first if that would delete remote groups; YES=1 goes ahead).
	KUBECTL=$(KUBECTL) hack/uninstall-guard.sh uninstall
	$(KUBECTL) delete -k config/crd --ignore-not-found

.PHONY: deploy
deploy: manifests ## Deploy the operator (config/default) into the cluster in KUBECONFIG.
	$(KUBECTL) apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove the operator and its CRDs (stops first if that would delete remote groups; YES=1 goes ahead).
	KUBECTL=$(KUBECTL) hack/uninstall-guard.sh undeploy
	$(KUBECTL) delete -k config/default --ignore-not-found

# The image is set by a kustomization in a directory under bin/ (there is
# no kustomize binary to `edit set image`): IMG's name, tag and digest go
# into its images: entry, which replaces config/manager's.
INSTALLER ?= dist/install.yaml

.PHONY: build-installer
build-installer: manifests $(K8S_BIN)/kubectl ## Write $(INSTALLER) (config/default: CRDs, RBAC, Deployment of IMG, Service, NetworkPolicy).
	@mkdir -p $(dir $(INSTALLER))
	@mkdir -p $(BIN) && overlay=$$(mktemp -d $(BIN)/installer-overlay.XXXXXX) && trap 'rm -rf "$$overlay"' EXIT && \
	img='$(IMG)' && name=$${img%%@*} && digest= && \
	if [[ $$img == *@* ]]; then digest=$${img#*@}; fi && \
	tag= && if [[ $${name##*/} == *:* ]]; then tag=$${name##*:}; name=$${name%:*}; fi && \
	{ echo "resources: [../../config/default]"; \
	  echo "images:"; echo "- name: ghcr.io/agentgroups/agentgroup-operator"; echo "  newName: $$name"; \
	  if [[ -n $$tag ]]; then echo "  newTag: \"$$tag\""; fi; \
	  if [[ -n $$digest ]]; then echo "  digest: $$digest"; fi; } > $$overlay/kustomization.yaml && \
	$(KUBECTL) kustomize $$overlay > $(INSTALLER)
	@echo "wrote $(INSTALLER) for $(IMG)"

##@ Tools

$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $@

$(GOTESTSUM):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	mv $(BIN)/gotestsum $@

.PHONY: helm
helm: $(HELM) ## Build Helm into bin/.

$(HELM):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/helm $@

# krew, to install the plugin from its manifest as users do (test-packaging).
$(KREW):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) go install sigs.k8s.io/krew/cmd/krew@$(KREW_VERSION)
	mv $(BIN)/krew $@
