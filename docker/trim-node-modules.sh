#!/bin/sh
# Run in the image build after `npm prune --omit=dev`: removes the onnxruntime-node binaries of
# other platforms (about 220 MB of macOS and Windows libraries the image never loads).
set -eu
ort=node_modules/onnxruntime-node/bin/napi-v6
arch=$(node -p process.arch)
find "$ort" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} +
test -d "$ort/linux/$arch" || { echo "trim-node-modules: no onnxruntime binaries for linux/$arch" >&2; exit 1; }
