#!/usr/bin/env bash
# A shipped experiment through a real Slurm scheduler: a single-node cluster on localhost
# (munged, slurmctld and slurmd from Debian's slurm-wlm and munge packages, configured by
# scripts/slurm/slurm.conf), the experiment written as a job array by `xtask slurm`, and
# checked against a local run of the same file:
#
#   1. 3 shards, two running at once (one CPU each) on the shared results folder, merged by
#      `xtask report`: summary.csv equals the local run's, byte for byte;
#   2. a task killed by scancel while it runs, the array resubmitted: the killed shard's
#      finished runs are kept (their files untouched), the rest run, the merge again equals
#      the local run.
#
# Needs root (the daemons run as root) and the packages: apt-get install slurm-wlm munge.
#   scripts/slurm-test.sh [XTASK]     (XTASK: a built xtask binary; default target/debug/xtask)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
XTASK=$(realpath "${1:-target/debug/xtask}")
EXP=experiments/quickstart.toml
NAME=quickstart

for tool in munged slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$tool" >/dev/null || { echo "slurm-test: $tool not found (apt-get install slurm-wlm munge)"; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "slurm-test: needs root (the test cluster's daemons run as root)"; exit 2; }
[ -x "$XTASK" ] || { echo "slurm-test: $XTASK not found (cargo build -p xtask)"; exit 2; }

work=$(mktemp -d /tmp/groundwork-slurm.XXXXXX)
stop() {
    for d in slurmd slurmctld munged; do
        [ -f "$work/$d.pid" ] && kill "$(cat "$work/$d.pid")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$work"
}
trap stop EXIT
fail() { echo "slurm-test: FAIL: $*"; for f in "$work"/*.log; do echo "== $f"; tail -n 20 "$f"; done; exit 1; }

# Free ports for the two daemons (a second test on the machine must not collide).
read -r port port2 < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$port|" -e "s|@PORT2@|$port2|" -e "s|@CPUS@|$(nproc)|" \
    scripts/slurm/slurm.conf > "$work/slurm.conf"
export SLURM_CONF="$work/slurm.conf"
mkdir -p "$work/state" "$work/spool"
head -c 1024 /dev/urandom > "$work/munge.key"
chmod 400 "$work/munge.key"
munged --force --key-file="$work/munge.key" --socket="$work/munge.socket" \
    --log-file="$work/munged.log" --pid-file="$work/munged.pid" --seed-file="$work/munged.seed"
slurmctld -c
slurmd
for _ in $(seq 60); do
    sinfo -h -o '%T' 2>/dev/null | grep -q idle && break
    sleep 0.5
done
sinfo -h -o '%T' | grep -q idle || fail "the node never came up"
echo "slurm-test: single-node cluster up ($(nproc) CPUs, slurmctld on port $port)"

# The reference: the same file run locally.
"$XTASK" run-experiment "$EXP" --quick --out "$work/local" >/dev/null 2>&1 || fail "the local run"
runs=$(find "$work/local/$NAME" -mindepth 2 -maxdepth 2 -name status | wc -l)

# 1. Three shards, two at a time.
"$XTASK" slurm "$EXP" --shards 3 --quick --out "$work/cluster" >/dev/null
GROUNDWORK_XTASK="$XTASK" sbatch --wait --cpus-per-task=1 --chdir="$root" \
    "$work/cluster/$NAME/slurm.sh" >/dev/null || fail "the job array"
for k in 1 2 3; do
    grep -q "shard $k/3 done" "$work"/cluster/$NAME/slurm-*_"$k".log || fail "shard $k did not finish"
done
"$XTASK" report "$work/cluster/$NAME" >/dev/null || fail "xtask report"
cmp -s "$work/local/$NAME/summary.csv" "$work/cluster/$NAME/summary.csv" \
    || fail "the merged summary.csv differs from the local run's"
echo "slurm-test: OK  3 shards (2 at once) merged: summary.csv equals the local run's ($runs runs)"

# 2. Kill a running task, resubmit. The first submission's tasks sleep after their shard
# (so one is running when scancel comes); shard 1 has finished its runs by then.
"$XTASK" slurm "$EXP" --shards 3 --quick --out "$work/cancel" >/dev/null
printf '#!/bin/sh\n"%s" "$@" && sleep 600\n' "$XTASK" > "$work/slow-xtask"
chmod +x "$work/slow-xtask"
job=$(GROUNDWORK_XTASK="$work/slow-xtask" sbatch --parsable --chdir="$root" "$work/cancel/$NAME/slurm.sh")
shard1=$(( (runs + 2) / 3 ))
for _ in $(seq 120); do
    done1=$( { find "$work/cancel/$NAME" -mindepth 2 -maxdepth 2 -name status 2>/dev/null || true; } | wc -l)
    [ "$done1" -ge "$shard1" ] && break
    sleep 0.5
done
[ "$done1" -ge "$shard1" ] || fail "shard 1 never finished its runs"
squeue -h -j "$job" -t RUNNING | grep -q . || fail "no task was running to cancel"
scancel "$job"
for _ in $(seq 60); do squeue -h -j "$job" 2>/dev/null | grep -q . || break; sleep 0.5; done
stamps=$(stat -c '%n %Y %s' "$work"/cancel/$NAME/*/status "$work"/cancel/$NAME/*/metrics.json)
kept=$(find "$work/cancel/$NAME" -mindepth 2 -maxdepth 2 -name status | wc -l)
[ "$kept" -lt "$runs" ] || fail "the whole experiment finished before the cancel"
sleep 1.1   # a rerun's files would get a later modification time
GROUNDWORK_XTASK="$XTASK" sbatch --wait --chdir="$root" "$work/cancel/$NAME/slurm.sh" >/dev/null \
    || fail "the resubmitted array"
while read -r f t s; do
    [ "$(stat -c '%Y %s' "$f")" = "$t $s" ] || fail "$f was rewritten by the resubmission"
done <<< "$stamps"
grep -q "resumed: kept $shard1 finished runs" "$work"/cancel/$NAME/slurm-*_1.log \
    || fail "the resubmitted shard 1 did not keep its finished runs"
"$XTASK" report "$work/cancel/$NAME" >/dev/null || fail "xtask report after the resubmission"
cmp -s "$work/local/$NAME/summary.csv" "$work/cancel/$NAME/summary.csv" \
    || fail "after cancel and resubmission the merged summary.csv differs from the local run's"
echo "slurm-test: OK  a running task cancelled, the array resubmitted: $kept finished runs kept untouched, the merge equals the local run"
