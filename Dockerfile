# gatewarden's image: a static binary on distroless.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/gatewarden ./cmd/gatewarden

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatewarden /gatewarden
USER 65532:65532
ENTRYPOINT ["/gatewarden"]
