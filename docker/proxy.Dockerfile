# The LambdaProxy image for ECS: `ownstak proxy` on port 3000.
#   docker build -f docker/proxy.Dockerfile -t ownstak-proxy .
# The backend's task definition passes the arguments after `ownstak`
# (`proxy --proxy-addr 0.0.0.0:3000 --org … --backend … --root-domain …`).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ownstak-cli --bin ownstak

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ownstak /usr/local/bin/ownstak
USER 65534:65534
EXPOSE 3000
HEALTHCHECK CMD ["/usr/local/bin/ownstak", "--version"]
ENTRYPOINT ["/usr/local/bin/ownstak"]
CMD ["proxy", "--proxy-addr", "0.0.0.0:3000", "--log-format", "json"]
