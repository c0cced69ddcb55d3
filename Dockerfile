# switchboard in one image: sb-backend, sb-lb and sb-client (see deploy/COMPOSE.md).
#
#   docker build -t switchboard:latest .     (docker compose up builds it too)
#
# Two stages on debian:bookworm-slim: the first builds with the packages and
# the cmake commands CI uses (SB_BUILD_PACKAGES in deploy/setup.sh, sb_build
# there; tests/integration/test_deploy_files.py fails when they drift apart),
# plus python3, which CMake's configure step requires (tests/integration)
# and which CI has from SB_RUN_PACKAGES; the second holds only the runtime
# libraries, the binaries and three small scripts, and runs as an
# unprivileged user.

FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libevent-dev libhiredis-dev \
      libsqlite3-dev libjansson-dev libsodium-dev libcmocka-dev \
      python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j"$(nproc)"

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# Exactly the shared libraries the binaries link (ldd; libc is in the base).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libevent-2.1-7 libhiredis0.14 libsqlite3-0 libjansson4 libsodium23 \
 && rm -rf /var/lib/apt/lists/*
# A numeric user, so that Kubernetes' runAsNonRoot can check it. /data is
# where the SQLite file lives: a new named volume mounted there takes this
# owner, so the user can write the database (WAL needs a writable folder).
RUN groupadd --system --gid 10001 switchboard \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data \
      --shell /usr/sbin/nologin switchboard \
 && install -d -o 10001 -g 10001 /data
COPY --from=build /src/build/backend/sb-backend /src/build/lb/sb-lb \
     /src/build/client/sb-client /usr/local/bin/
COPY deploy/docker/entrypoint.sh /usr/local/bin/sb-entrypoint
COPY deploy/docker/healthcheck.sh /usr/local/bin/sb-healthcheck
COPY deploy/docker/seed.sh /usr/local/bin/sb-seed
USER 10001:10001
WORKDIR /data
ENV SB_DB=/data/switchboard.db
EXPOSE 9000 8080 8404
ENTRYPOINT ["/usr/local/bin/sb-entrypoint"]
CMD ["sb-backend"]
