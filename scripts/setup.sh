#!/usr/bin/env bash
# One-time set-up of a fresh machine: a Vulkan driver for Dawn (lavapipe on machines
# without a GPU) and the npm dependencies. Safe to run again; it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-vulkan.sh
# Slurm and munge for scripts/test-slurm.sh: only as root with apt-get, skipped when installed.
bash scripts/setup-slurm.sh || echo "setup: Slurm not installed; scripts/test-slurm.sh will fail on this machine (see above)"

# Debian's PyTorch for the `milec export --torch` tests (tests/export/; they skip without it).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then apt-get install -y --no-install-recommends python3-torch || { apt-get update -qq && apt-get install -y --no-install-recommends python3-torch; }; fi

# npm ci installs exactly the lockfile; skip it when node_modules was installed from this one.
stamp=node_modules/.milec-lockfile.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: node_modules matches package-lock.json."
else
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# Bundle the CLI so it starts without compiling TypeScript (bin/milec.js falls back to the
# sources whenever they are newer than the bundle).
npm run --silent build
