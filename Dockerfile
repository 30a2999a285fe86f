# The manager's image, for your own CI:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t IMAGE .
#
# `make image` builds the same image with no daemon and no network;
# test/packaging/image_test.go fails when the two disagree (user,
# entrypoint, labels) and runs this file's build stage.

# The builder runs on the build machine's platform and cross-compiles to
# the target's, which is much faster than emulating the target.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /workspace
# The modules first: this layer stays cached until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static (no cgo: distroless/static has no libc), no build paths, the
# version that --version prints.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X github.com/agentgroups/agentgroup-operator/internal/version.Version=${VERSION}" -o manager .

# distroless/static: CA certificates (the manager calls the Group API over
# HTTPS), no shell, no package manager. The manager writes nothing to
# disk, so it runs with readOnlyRootFilesystem.
FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="agentgroup-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/agentgroups/agentgroup-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /
COPY --from=builder /workspace/manager /manager
# distroless's nonroot, by number so that the kubelet can check runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["/manager"]
