#!/usr/bin/env bash
# Installs what scripts/slurm-local.sh needs for the real-Slurm test of `milec sweep --on slurm`
# (scripts/test-slurm.sh): Debian's slurmctld, slurmd, slurm-client and munge, without the ~30
# plugin packages of slurm-wlm. Only as root with apt-get; skips (exit 0, saying why) when they
# are installed already, or when it cannot install (not root, no apt-get). Exit 1: apt-get failed.
set -euo pipefail

have() { command -v slurmctld && command -v slurmd && command -v sbatch && command -v munged; }
if have >/dev/null; then
  echo "setup-slurm: Slurm and munge are installed."
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-slurm: skipped: not root (Slurm and munge are installed as root with apt-get)."
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "setup-slurm: skipped: no apt-get on this machine."
  exit 0
fi
pkgs=(slurmctld slurmd slurm-client munge)
export DEBIAN_FRONTEND=noninteractive
# A fresh image may have no package lists yet: update once when the first try fails.
if ! apt-get install -y --no-install-recommends "${pkgs[@]}" >/tmp/setup-slurm.log 2>&1; then
  apt-get update >>/tmp/setup-slurm.log 2>&1 || true
  apt-get install -y --no-install-recommends "${pkgs[@]}" >>/tmp/setup-slurm.log 2>&1 || {
    tail -5 /tmp/setup-slurm.log >&2
    echo "setup-slurm: apt-get install ${pkgs[*]} failed (log: /tmp/setup-slurm.log)" >&2
    exit 1
  }
fi
have >/dev/null || { echo "setup-slurm: installed, yet slurmctld, slurmd, sbatch or munged is not on PATH" >&2; exit 1; }
echo "setup-slurm: installed ${pkgs[*]}."
