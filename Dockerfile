# syntax=docker/dockerfile:1
#
# Promote's container image: one static binary on distroless, as a non-root user.
#
#   docker build -t promote:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -p 8080:8080 -v promote-data:/var/lib/promote \
#     -v "$PWD/examples:/etc/promote:ro" -e PROMOTE_PIPELINE=/etc/promote/pipeline/promote.yaml promote:dev
#
# deploy/deploy_test.go builds the binary with this file's `go build` line and checks that
# it is static and that the final stage runs as a non-root user; keep that line on one
# RUN instruction.

ARG GO_VERSION=1.26

# ---- build: a static binary ----
FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version that `promote version` prints (a release tag in release builds).
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/promote-ml/promote/internal/cli.Version=${VERSION}" -o /out/promote ./cmd/promote
# The data directory, owned by the runtime user: a named volume mounted there
# starts with this ownership.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0750 /out/data

# ---- runtime: distroless static (CA certificates, tzdata, /etc/passwd with nonroot 65532) ----
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="promote" \
      org.opencontainers.image.description="Moves ML model versions through environments with policy gates, approvals, GitOps commits and canary rollouts" \
      org.opencontainers.image.source="https://github.com/promote-ml/promote" \
      org.opencontainers.image.url="https://github.com/promote-ml/promote" \
      org.opencontainers.image.documentation="https://github.com/promote-ml/promote/tree/main/docs" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/promote /usr/local/bin/promote
COPY --from=build --chown=65532:65532 /out/data /var/lib/promote
# Listen on every interface inside the container (the default is loopback only);
# SQLite data under the volume; the pipeline from a mounted file (see deploy/kubernetes).
ENV PROMOTE_ADDR=:8080 \
    PROMOTE_DATA=/var/lib/promote \
    PROMOTE_PIPELINE=/etc/promote/promote.yaml
WORKDIR /var/lib/promote
VOLUME ["/var/lib/promote"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["promote"]
CMD ["serve"]
