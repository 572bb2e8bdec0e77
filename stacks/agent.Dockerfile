# The agent's image: nextprism-agent (examples/nextprism_agent.cpp), the
# executor over HTTP for the apps on the Swarm, and the `nextprism` command
# line (for `docker exec` by hand: `nextprism exec`, `nextprism proxies`),
# in a small Debian image, for stacks/agent.yaml. Build from the repository's root:
#
#   docker build -f stacks/agent.Dockerfile -t nextprism.invalid/agent .
#
# or proxy/build-image.sh --agent (no registry: base made locally, cached).
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
 && cmake --build /build -j"$(nproc)" --target nextprism-agent nextprism-cli \
 && install -D -s -m 0755 /build/examples/nextprism-agent /stage/usr/local/bin/nextprism-agent \
 && install -D -s -m 0755 /build/examples/nextprism /stage/usr/local/bin/nextprism

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssh2-1 libssl3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/*
COPY --from=build /stage/ /
RUN groupadd -g 1000 agent && useradd -u 1000 -g agent -d /nonexistent -M -s /usr/sbin/nologin agent
USER agent
LABEL org.opencontainers.image.title=nextprism-agent
# Off loopback the agent wants its callers' tokens (a Docker secret).
ENTRYPOINT ["/usr/local/bin/nextprism-agent", "--config", "/etc/nextprism/nextprism.json", \
            "--listen", "0.0.0.0:8087", "--token-file", "/run/secrets/nextprism_agent_tokens"]
