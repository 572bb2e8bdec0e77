# An example caller: nextprism-run (examples/assemblies.cpp) in a small
# Debian image, for stacks/example-caller.yaml. It idles; the application
# (here: the tests and the demo, by `docker exec`) runs nextprism-run.
# Build from the repository's root:
#
#   docker build -f stacks/example-caller.Dockerfile -t nextprism.invalid/caller .
#
# or proxy/build-image.sh --caller (no registry: base made locally, cached).
FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ make cmake pkg-config libboost1.81-dev nlohmann-json3-dev libssh2-1-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY include/ include/
COPY tools/ tools/
COPY examples/ examples/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
      -DNEXTPRISM_BUILD_TESTS=OFF -DNEXTPRISM_BUILD_BENCHMARKS=OFF -DNEXTPRISM_BUILD_PROXY=OFF \
      -DNEXTPRISM_BUILD_EXAMPLES=ON \
 && cmake --build /build -j"$(nproc)" --target nextprism-run \
 && install -D -s -m 0755 /build/examples/nextprism-run /stage/usr/local/bin/nextprism-run

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssh2-1 libssl3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*
COPY --from=build /stage/ /
RUN groupadd -g 1000 caller && useradd -u 1000 -g caller -d /nonexistent -M -s /usr/sbin/nologin caller
USER caller
LABEL org.opencontainers.image.title=nextprism-example-caller
ENTRYPOINT ["/bin/sh", "-c", "trap 'exit 0' TERM INT; sleep infinity & wait"]
