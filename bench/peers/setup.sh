#!/usr/bin/env bash
# Installs the peers of `npm run bench` (see README, "Benchmark"): TF.js (WebGPU and WASM backends)
# into bench/peers/node_modules, and, when run as root on Debian/Ubuntu, PyTorch for the CPU
# (Debian 12's python3-torch). Nothing here touches the root package or its node_modules.
set -euo pipefail
cd "$(dirname "$0")/../.."

npm ci --prefix bench/peers || npm install --prefix bench/peers

has_torch() { for py in python3 /usr/bin/python3; do "$py" -c 'import torch' 2>/dev/null && return 0; done; return 1; }
if has_torch; then
  echo "PyTorch: already importable"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-torch
else
  echo "PyTorch: not installed (run this script as root on Debian/Ubuntu for python3-torch, or pip install torch); the torch-cpu row is skipped without it"
fi
