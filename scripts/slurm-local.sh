#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for testing `milec sweep --on slurm` for real
# (scripts/test-slurm.sh). Needs root and the Debian packages slurmctld, slurmd, slurm-client
# and munge (scripts/setup-slurm.sh installs them).
#
#   bash scripts/slurm-local.sh start DIR   writes DIR/slurm.conf, starts munged, slurmctld and
#                                           slurmd (their state, logs and sockets all under DIR)
#                                           and waits until the node takes jobs; exit 2 when it
#                                           cannot (the reason on stderr)
#   bash scripts/slurm-local.sh stop DIR    stops the daemons that `start DIR` started
#
# Clients find the cluster through SLURM_CONF=DIR/slurm.conf. Nothing outside DIR is written,
# so a system Slurm or munge (if any) is left alone. Without systemd the daemons run in the
# foreground (-F, -D) as background jobs of this script, their process ids in DIR/*.pid.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 64
fi

stop() {
  # First the cluster's jobs (all of them ours: the cluster is private to DIR), so that no task
  # outlives the slurmd that would end it; then the daemons in reverse order of starting.
  if [ -f "$dir/slurm.conf" ] && [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    export SLURM_CONF="$dir/slurm.conf"
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
    # shellcheck disable=SC2086 # one job id per word
    [ -z "${jobs// /}" ] || scancel --quiet $jobs || true
    for _ in $(seq 75); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  for d in slurmd slurmctld munged; do
    local f="$dir/$d.pid"
    [ -f "$f" ] || continue
    local pid
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

if [ "$cmd" = stop ]; then
  stop
  exit 0
fi
if [ "$cmd" != start ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 64
fi

fail() {
  echo "slurm-local: $*" >&2
  exit 2
}
[ "$(id -u)" = 0 ] || fail "needs root (the daemons run as SlurmUser=root)"
for b in munged slurmctld slurmd sbatch squeue scontrol; do
  command -v "$b" >/dev/null || fail "$b is not installed (bash scripts/setup-slurm.sh)"
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# munged refuses a key or socket folder that others may write to.
chmod 700 "$dir"
mkdir -p -m 700 "$dir/munge" "$dir/ctld" "$dir/spool"

# A fresh key per cluster: 1 KiB of random bytes, readable by root alone.
key="$dir/munge/munge.key"
if [ ! -s "$key" ]; then
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$key" --force >/dev/null
  else
    dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
  fi
  chmod 400 "$key"
fi

# Ports other than Slurm's defaults (6817/6818), so a system Slurm on the machine is not in the way.
ctld_port=${MILEC_SLURMCTLD_PORT:-16817}
d_port=${MILEC_SLURMD_PORT:-16818}
node=$(hostname -s)
cpus=$(nproc)
cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh: one node (this machine) in one partition.
ClusterName=milec-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/ctld/slurmctld.pidfile
SlurmdPidFile=$dir/spool/slurmd.pidfile
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
# The cgroup defaults crash slurmd in containers; plain process tracking is enough here.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
# No accounting database.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=300
KillWait=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"

# Starts "$@" in the background, its output in DIR/NAME.out and its pid in DIR/NAME.pid.
daemon() {
  local name=$1
  shift
  "$@" >"$dir/$name.out" 2>&1 &
  echo $! >"$dir/$name.pid"
}

daemon munged munged -F --force --key-file="$key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
for _ in $(seq 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$dir/munge/munge.socket" ] || fail "munged did not start: $(tail -3 "$dir/munged.out" "$dir/munge/munged.log" 2>/dev/null)"

daemon slurmctld slurmctld -D -i -f "$dir/slurm.conf"
daemon slurmd slurmd -D -f "$dir/slurm.conf" -N "$node"

# Ready when the controller answers and the node is idle (30 s at most).
for _ in $(seq 150); do
  if scontrol ping 2>/dev/null | grep -q UP && sinfo -h -N -o '%t' 2>/dev/null | grep -qx 'idle'; then
    echo "slurm-local: up ($cpus CPUs on node $node); export SLURM_CONF=$dir/slurm.conf"
    exit 0
  fi
  for d in slurmctld slurmd munged; do
    kill -0 "$(cat "$dir/$d.pid")" 2>/dev/null || { tail -5 "$dir/$d.out" >&2; stop; fail "$d exited"; }
  done
  sleep 0.2
done
tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
stop
fail "the cluster did not become ready in 30 s"
