# syntax=docker/dockerfile:1
#
# fever's production images, built from this repository (docker-compose.yml builds both):
#
#   docker build -t fever .                           CPU: `fever serve` (default), `fever worker`, …
#   docker build -t fever:gpu --target runtime-gpu .  the same with onnxruntime-node's CUDA provider,
#                                                     on NVIDIA's CUDA 12 + cuDNN 9 runtime image
#
# `npm ci` converts the face-api models to ONNX and compiles the `fever` command to JavaScript
# (the root postinstall); everything only the build, tests, lints and benchmarks need is pruned
# from the final stages. The build fails if the models are missing or do not match their
# manifests. The base image's npm is upgraded first: installs need npm ≥ 11.17 (package.json's
# allowScripts keeps onnxruntime-node's CUDA download off unless asked for).

ARG NODE_VERSION=20
# Must provide the CUDA and cuDNN majors that onnxruntime-node's `cuda12` provider was built
# against (CUDA 12, cuDNN 9). In a container, `fever doctor --only provider` says whether it loads.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# --- build: install, convert the models, drop devDependencies ---------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
ENV TURBO_TELEMETRY_DISABLED=1 NPM_CONFIG_UPDATE_NOTIFIER=false
# `skip` (the default): no CUDA provider download. `cuda12`: the GPU build.
ARG ONNXRUNTIME_NODE_INSTALL=skip
ARG NPM_VERSION=11.19.1
COPY . .
RUN --mount=type=cache,target=/root/.npm \
    npm install -g npm@${NPM_VERSION} \
 && ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL} npm ci \
 && npm prune --omit=dev \
 && sh docker/trim-node-modules.sh \
 && node apps/cli/bin/fever.js doctor --only models \
 && rm -rf /root/.cache /tmp/*

# The same, with the CUDA provider (a large download from NuGet, at build time only).
FROM build AS build-gpu
RUN --mount=type=cache,target=/root/.npm \
    ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci \
 && npm prune --omit=dev \
 && sh docker/trim-node-modules.sh \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so \
 && node apps/cli/bin/fever.js doctor --only models \
 && rm -rf /root/.cache /tmp/*

# --- runtime: CPU ------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    FEVER_DATA_DIR=/var/lib/fever \
    FEVER_HOST=0.0.0.0 \
    FEVER_PORT=8080 \
    PATH=/app/node_modules/.bin:$PATH
WORKDIR /app
# Owned by root and read-only to the service user: code cannot be changed by the process.
COPY --from=build /app /app
RUN mkdir -p /var/lib/fever && chown node:node /var/lib/fever
USER node
VOLUME ["/var/lib/fever"]
EXPOSE 8080
# The API's liveness endpoint. Worker containers override this (see docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.mjs"]
# Node as PID 1 gets SIGTERM and fever drains in-flight work; run with `--init` (compose:
# `init: true`) to also reap stray children.
ENTRYPOINT ["node", "/app/apps/cli/bin/fever.js"]
CMD ["serve"]

# --- runtime: GPU ------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS node
FROM ${CUDA_IMAGE} AS runtime-gpu
ENV NODE_ENV=production \
    FEVER_DATA_DIR=/var/lib/fever \
    FEVER_HOST=0.0.0.0 \
    FEVER_PORT=8080 \
    FEVER_DEVICE=cuda \
    PATH=/app/node_modules/.bin:$PATH \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=node /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build-gpu /app /app
RUN useradd --system --create-home --uid 10001 fever \
 && mkdir -p /var/lib/fever && chown fever:fever /var/lib/fever
USER fever
VOLUME ["/var/lib/fever"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/apps/cli/bin/fever.js"]
CMD ["worker"]
