#!/usr/bin/env bash
# `milec sweep --on slurm` on a real Slurm: starts a single-node cluster on this machine
# (scripts/slurm-local.sh), sweeps MISS-tiny through it, and checks the collected report against
# the same sweep run locally. On the way it kills one array task on purpose: `--collect` must
# report that cell as failed with its log, and submitting again must rerun that cell alone.
# Every daemon it started is stopped on exit, however it exits.
#
# Skips (exit 0, saying why) where Slurm cannot be installed: not root, or no apt-get. As root
# with apt-get (CI) it installs Slurm if needed (scripts/setup-slurm.sh) and really runs; any
# mismatch or a cluster that does not start is exit 1. `npm run test:slurm` runs it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t0=$(date +%s.%N)

skip() {
  echo "test-slurm: SKIPPED: $*"
  exit 0
}
die() {
  echo "test-slurm: FAIL: $*" >&2
  exit 1
}
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || skip "not root (the single-node cluster runs its daemons as root)"
command -v apt-get >/dev/null || command -v slurmctld >/dev/null || skip "no apt-get to install Slurm with"
bash scripts/setup-slurm.sh || die "could not install Slurm (scripts/setup-slurm.sh)"

if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="/tmp/xdg-$(id -u)"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
fi
# As in vitest.config.ts: lavapipe compiles without LLVM's optimisation passes (the test's
# kernels are tiny and each compiles once; Mesa keys its shader cache by the flag).
export GALLIVM_PERF="${GALLIVM_PERF:-nopt}"

work=$(mktemp -d /tmp/milec-slurm-test.XXXXXX)
state="$work/cluster"
# Stop the daemons on any exit; keep the folder (logs) only when the test failed.
cleanup() {
  local rc=$?
  bash scripts/slurm-local.sh stop "$state" || true
  if [ "$rc" = 0 ]; then rm -rf "$work"; else echo "test-slurm: logs kept in $work" >&2; fi
}
trap cleanup EXIT
bash scripts/slurm-local.sh start "$state" || die "the single-node cluster did not start (logs in $state)"
export SLURM_CONF="$state/slurm.conf"
echo "test-slurm: cluster up after $(elapsed) s"

# The sweep: three MISS-tiny tunes, a few steps of batch 2, 50 eval items. Relative paths on
# purpose: the array tasks start in this folder (#SBATCH --chdir).
sweep=(sweep examples/miss_tiny.mile --tunes f_f_lora_r4,f_f_ia3,f_f_lora_r8 --steps 3 --batch 2 --eval-data synthetic-vqa:50)
milec() { node "$root/bin/milec.js" "$@"; }

# The local reference, in one process (it also warms the shader cache for the tasks).
milec "${sweep[@]}" --out "$work/local" --json >"$work/local.out" 2>"$work/local.err" ||
  die "the local sweep failed: $(tail -5 "$work/local.err")"
echo "test-slurm: local sweep done after $(elapsed) s"

# Waits until no job of "$@" is queued or running (at most $timeout s).
wait_jobs() {
  local timeout=$1
  shift
  local ids
  ids=$(IFS=,; echo "$*")
  for _ in $(seq $((timeout * 5))); do
    [ -z "$(squeue -h -j "$ids" -o %i 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  squeue >&2
  die "jobs $ids still queued or running after $timeout s"
}
# `milec sweep … --on slurm` and the job ids it printed: sets array_job and collect_job.
submit() {
  milec "${sweep[@]}" --out "$out" --on slurm --parallel 2 --time 10 >"$work/submit.out" 2>"$work/submit.err" ||
    die "milec sweep --on slurm failed: $(cat "$work/submit.err")"
  array_job=$(sed -n 's/.*submitted array job \([0-9][0-9]*\).*/\1/p' "$work/submit.err")
  collect_job=$(sed -n 's/.*and collect job \([0-9][0-9]*\).*/\1/p' "$work/submit.err")
  [ -n "$array_job" ] && [ -n "$collect_job" ] || die "no job ids in: $(cat "$work/submit.err")"
  echo "test-slurm: $(cat "$work/submit.err")"
}

out="$work/slurm"
submit
first_job=$array_job
grep -q -- "--array=0-2%2" "$out/sweep.sbatch" || die "sweep.sbatch has no --array=0-2%2: $(grep array "$out/sweep.sbatch")"

# Kill cell 1 once it is running milec (its header is in its log), before it can finish.
log1="$out/logs/cell-1.log"
for i in $(seq 600); do
  grep -q "milec sweep: cell 1" "$log1" 2>/dev/null && break
  [ -f "$out/cells/1.json" ] && die "cell 1 finished before it could be killed"
  [ "$i" = 600 ] && die "cell 1 did not start in 120 s"
  sleep 0.2
done
scancel "${array_job}_1"
echo "test-slurm: cancelled task ${array_job}_1 (cell 1) while it ran"
wait_jobs 180 "$array_job" "$collect_job"
[ -f "$out/logs/collect.log" ] || die "the collect job left no log"
node tests/slurm/check-sweep.mjs killed "$out" 1
echo "test-slurm: first array and collect done after $(elapsed) s"

# Submitting the same sweep again runs only the cell without a result.
submit
grep -q -- "--array=1%2" "$out/sweep.sbatch" || die "the resubmission is not an array of cell 1 alone: $(grep array "$out/sweep.sbatch")"
wait_jobs 180 "$array_job" "$collect_job"
node tests/slurm/check-sweep.mjs rerun "$out" "$first_job" "$array_job" 1
node tests/slurm/check-sweep.mjs same "$work/local" "$out"
node tests/slurm/check-sweep.mjs timings "$out"

# `milec sweep --collect` by hand gives the same report the collect job wrote.
cp "$out/sweep.json" "$work/by-job.json"
milec sweep --collect "$out" --json >/dev/null
cmp -s "$work/by-job.json" "$out/sweep.json" || die "milec sweep --collect wrote another sweep.json than the collect job"

echo "test-slurm: PASSED in $(elapsed) s"
