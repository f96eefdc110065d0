#!/usr/bin/env bash
# A real one-node Slurm cluster in a temporary folder, for tests and trying things out.
#
#   tools/slurm_local.sh start [DIR]   # prints the `export SLURM_CONF=...` line clients need
#                                        (eval "$(tools/slurm_local.sh start)" sets it)
#   tools/slurm_local.sh stop  [DIR]   # cancels its jobs, then stops slurmd, slurmctld, munged
#   tools/slurm_local.sh status [DIR]
#
# DIR defaults to $XSTILTS_SLURM_DIR, else /tmp/xstilts-slurm. Needs root (munged and slurmd
# run as root); installs Debian's slurmctld, slurmd, slurm-client and munge when missing.
# Everything (munge key and socket, slurm.conf, state, spool, logs, pid files) lives in DIR;
# the daemons' ports are picked free, so two clusters on one machine do not meet. Daemons are
# stopped by the pids in their pid files, never by name.
set -euo pipefail

cmd=${1:-}
T=$(readlink -m "${2:-${XSTILTS_SLURM_DIR:-/tmp/xstilts-slurm}}")
CONF=$T/etc/slurm.conf

die() { echo "slurm_local: $*" >&2; exit 1; }

install_packages() {
    local missing=()
    for tool in slurmctld slurmd sbatch munged mungekey; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing ${missing[*]} and not root: apt-get install slurmctld slurmd slurm-client munge"
    echo "slurm_local: installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})" >&2
    local pkgs=(slurmctld slurmd slurm-client munge)
    export DEBIAN_FRONTEND=noninteractive
    # the packages' scripts try to start the system services; policy-rc.d refusing is harmless
    apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$T/apt.log" 2>&1 \
        || { apt-get update -q >>"$T/apt.log" 2>&1 && apt-get install -y -q --no-install-recommends \
             "${pkgs[@]}" >>"$T/apt.log" 2>&1; } \
        || die "apt-get install failed; see $T/apt.log"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}

pid_of() { [ -s "$1" ] && cat "$1" || true; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

stop_pid() {  # TERM the pid in a pid file and wait for it (up to 20 s), then KILL that pid
    local pid
    pid=$(pid_of "$1")
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do alive "$pid" || return 0; sleep 0.1; done
    echo "slurm_local: $pid ($1) did not stop on TERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

write_conf() {
    local host mem ctld_port slurmd_port
    host=$(hostname -s)
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    ctld_port=$(free_port)
    slurmd_port=$(free_port)
    while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
    cat >"$CONF" <<EOF
# One-node test cluster written by tools/slurm_local.sh
ClusterName=xstilts
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.socket,cred_expire=10
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobRequeue=1
ReturnToService=2
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool/slurmd.%n
SlurmctldPidFile=$T/run/slurmctld.pid
SlurmdPidFile=$T/run/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    [ "$(id -u)" = 0 ] || die "start needs root (munged and slurmd run as root)"
    mkdir -p "$T"/{etc,munge,state,spool,run,log}
    chmod 755 "$T" "$T/munge"
    export PATH=$PATH:/usr/sbin
    install_packages
    if alive "$(pid_of "$T/run/slurmctld.pid")"; then
        echo "slurm_local: already running in $T" >&2
    else  # stdout carries only the export line (callers eval it); a daemon holding it (or the
        # caller's stderr) open would keep `$(...)` or a CI log waiting: theirs go to a file
        local out=$T/log/daemons.out
        [ -f "$T/munge/munge.key" ] || mungekey -c -k "$T/munge/munge.key" >>"$out" 2>&1
        chmod 600 "$T/munge/munge.key"
        alive "$(pid_of "$T/munge/munged.pid")" || munged --force -S "$T/munge/munge.socket" \
            --key-file="$T/munge/munge.key" --pid-file="$T/munge/munged.pid" \
            --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" >>"$out" 2>&1
        [ -f "$CONF" ] || write_conf
        slurmctld -f "$CONF" >>"$out" 2>&1
        slurmd -f "$CONF" >>"$out" 2>&1
    fi
    local state=""
    for _ in $(seq 300); do
        state=$(SLURM_CONF=$CONF sinfo -h -o %T 2>/dev/null || true)
        [ "$state" = idle ] && break
        sleep 0.1
    done
    [ "$state" = idle ] || die "the node did not come up (state '${state}'); see $T/log"
    echo "export SLURM_CONF=$CONF"
}

stop() {
    [ -f "$CONF" ] || { echo "slurm_local: no cluster in $T" >&2; return 0; }
    export SLURM_CONF=$CONF PATH=$PATH:/usr/sbin
    if alive "$(pid_of "$T/run/slurmctld.pid")"; then
        # jobs first: slurmstepd outlives slurmd, so running steps must end while it is up
        local jobs
        jobs=$(squeue -h -o %i 2>/dev/null || true)
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            for _ in $(seq 450); do
                [ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
                sleep 0.1
            done
        fi
    fi
    stop_pid "$T/run/slurmd.pid"
    stop_pid "$T/run/slurmctld.pid"
    stop_pid "$T/munge/munged.pid"
    echo "slurm_local: stopped the cluster in $T" >&2
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) SLURM_CONF=$CONF sinfo && SLURM_CONF=$CONF squeue ;;
    *) die "usage: $0 start|stop|status [DIR]" ;;
esac
