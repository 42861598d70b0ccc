#!/usr/bin/env bash
# cluster.sh — a real single-node Slurm for one test: munge with a key of its own,
# slurmctld and slurmd with a slurm.conf, spool, state and log directories under
# WORK, started here and stopped by process id when COMMAND ends (also when it
# fails or this script is interrupted). Installs nothing: Debian's slurm-wlm and
# munge come from scripts/setup.sh. Facts: ../shared/reference/slurm.md.
#   tests/slurm/cluster.sh WORK COMMAND...
# COMMAND runs with SLURM_CONF set (sbatch, squeue, scontrol, scancel reach this
# cluster); its exit status is this script's. Root is needed (SlurmUser=root,
# munged run as the munge user).
set -euo pipefail
work=$(mkdir -p "$1" && cd "$1" && pwd); shift
[ $# -gt 0 ] || { echo "usage: cluster.sh WORK COMMAND..." >&2; exit 2; }
for exe in munged slurmctld slurmd sinfo; do
  command -v "$exe" >/dev/null || PATH=$PATH:/usr/sbin
  command -v "$exe" >/dev/null || { echo "cluster.sh: $exe not found (scripts/setup.sh installs slurm-wlm and munge)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "cluster.sh: needs root (SlurmUser=root)" >&2; exit 1; }

c=$work/cluster
rm -rf "$c"
mkdir -p "$c"/{spool,state,log}
# munge's directory lives apart from the checkout: munged runs as the munge user,
# which cannot reach a checkout under a private (0700) directory such as mktemp -d's
m=$(mktemp -d "${TMPDIR:-/tmp}/qtip-munge.XXXXXX")
pids=()
stop() {
  local p
  # jobs still queued or running first, so that no slurmstepd outlives slurmd
  if [ ${#pids[@]} -ge 3 ]; then
    scancel --quiet $(squeue -h -o %A 2>/dev/null) 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  # newest first: slurmd, slurmctld, then munged; each by the id started here
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    p=${pids[i]}
    kill "$p" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$m"
}
trap stop EXIT
trap 'exit 130' INT TERM

# munge: its own key and socket; munged checks that its directories are not
# writable by others, its socket directory searchable by all; it runs as the
# munge user
chown munge:munge "$m"; chmod 755 "$m"
head -c 1024 /dev/urandom > "$m/munge.key"
chown munge:munge "$m/munge.key"; chmod 400 "$m/munge.key"
sock=$m/munge.socket
setpriv --reuid=munge --regid=munge --init-groups munged -F --key-file="$m/munge.key" --socket="$sock" \
  --pid-file="$m/munged.pid" --log-file="$m/munged.log" \
  --seed-file="$m/munged.seed" > "$c/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
munge -n -S "$sock" | unmunge -S "$sock" >/dev/null || { echo "cluster.sh: munge does not work" >&2; cat "$m/munged.log" >&2; exit 1; }

host=$(hostname -s)
mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
# ports of their own: a system Slurm on the default ones is left alone
cat > "$c/slurm.conf" <<CONF
ClusterName=qtiptest
SlurmctldHost=$host
SlurmctldPort=${QTIP_SLURMCTLD_PORT:-16817}
SlurmdPort=${QTIP_SLURMD_PORT:-16818}
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$c/state
SlurmdSpoolDir=$c/spool
SlurmctldPidFile=$c/slurmctld.pid
SlurmdPidFile=$c/slurmd.pid
SlurmctldLogFile=$c/log/slurmctld.log
SlurmdLogFile=$c/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=600
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$c/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" > "$c/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" > "$c/log/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do
  state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1) || true
  [ "$state" = idle ] && break
  sleep 0.2
done
if [ "$state" != idle ]; then
  echo "cluster.sh: node not idle (state '$state')" >&2
  tail -20 "$c/log/slurmctld.log" "$c/log/slurmd.log" >&2 || true
  exit 1
fi
echo "cluster.sh: $host idle ($(nproc) CPUs), SLURM_CONF=$SLURM_CONF" >&2
status=0
"$@" || status=$?
exit $status
