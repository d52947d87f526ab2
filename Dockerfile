# Jeton in a container: the `jeton` binary on Debian slim, serving on port 8080, its data (the
# SQLite database, operator.key, lease.key) in the volume /var/lib/jeton.
#
#   docker build -t jeton \
#     --build-arg JETON_GIT_REV="$(git rev-parse --short HEAD)" \
#     --build-arg JETON_GIT_DATE="$(git log -1 --format=%cd --date=short)" .
#   docker run -d -p 8080:8080 -v jeton-data:/var/lib/jeton --name jeton jeton
#   docker logs jeton              # the operator key, printed once on first start
#
# .dockerignore keeps .git out of the build, hence the revision as build arguments (without
# them `jeton --version` says `unknown`). packaging/check runs the RUN line of the build stage
# and the image's server and health check outside a container, where there is no Docker engine.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Read by crates/cli/build.rs for `jeton --version`.
ARG JETON_GIT_REV=""
ARG JETON_GIT_DATE=""
COPY . .
RUN cargo build --release --locked -p jeton-cli

FROM debian:bookworm-slim
# A fixed uid/gid, so that a volume or bind mount can be given to it ahead of time; it owns the
# data directory before VOLUME, so a new named volume starts out owned by it.
RUN groupadd --system --gid 10001 jeton \
    && useradd --system --uid 10001 --gid jeton --home-dir /var/lib/jeton --no-create-home \
       --shell /usr/sbin/nologin jeton \
    && install -d -o jeton -g jeton -m 0700 /var/lib/jeton
# Nothing else is installed: SQLite is built in, and the TLS roots for SMTP come with the
# binary (webpki-roots), so not even ca-certificates is needed.
COPY --from=build /src/target/release/jeton /usr/local/bin/jeton
COPY LICENSE /usr/share/doc/jeton/LICENSE

# JETON_SERVER is where the commands run inside the container (`docker exec jeton jeton teams
# list`, the health check) find the server; they read the operator key from JETON_DATA_DIR.
ENV JETON_DATA_DIR=/var/lib/jeton \
    JETON_LISTEN=0.0.0.0:8080 \
    JETON_SERVER=http://127.0.0.1:8080
VOLUME /var/lib/jeton
# Numeric, so that a runtime refusing root (Kubernetes' runAsNonRoot) can tell it is not.
USER 10001:10001
WORKDIR /var/lib/jeton
EXPOSE 8080
# GET /healthz through the binary itself: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["jeton", "health"]
ENTRYPOINT ["jeton"]
CMD ["serve"]
