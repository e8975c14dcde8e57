# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing script
# Shared by tests/devcloud/start and tests/devcloud/stop (sourced, not run).
#
# Every devcloud process is started in its own session (setsid), so its PID
# is also its process-group id.  That PID is recorded in $RUN/NAME.pid and is
# the only handle stop uses: nothing is ever found or killed by name.

STATE=${DEVCLOUD_STATE:-/var/tmp/fleeting-devcloud}
RUN=$STATE/run
LOG=$STATE/log

# Debian's OpenStack runs on Debian's /usr/bin/python3.  A developer's PATH
# may start with pyenv shims or a virtualenv: keep them away from every
# service and manage command we start.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PYTHONSTARTUP
export PYTHONDONTWRITEBYTECODE=1

T0_MS=${T0_MS:-$(date +%s%3N)}
elapsed() { local ms=$(($(date +%s%3N) - T0_MS)); echo "$((ms / 1000)).$((ms % 1000 / 100))"; }
log() { echo "[devcloud $(elapsed)s] $*"; }
die() { echo "[devcloud $(elapsed)s] ERROR: $*" >&2; exit 1; }

# pgid_alive PID: true while that process group has a live (non-zombie)
# member.  Not kill -0: our services are reparented to PID 1, and a dead one
# stays a zombie until PID 1 reaps it (on some machines seconds later).
pgid_alive() {
  ps -A -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {f = 1} END {exit !f}'
}

# proc_identity PID: boot id + the process's start time (clock ticks since
# boot).  Recorded beside each pid, so that a pid file left from an earlier
# boot or session never makes us treat (or signal) a stranger whose process
# got the same number.
proc_identity() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }   # fields after "(comm) ": state is the first
  # shellcheck disable=SC2086
  set -- $stat
  echo "$(cat /proc/sys/kernel/random/boot_id) ${20}"
}

# running NAME: the process group recorded for NAME is alive and is ours
running() {
  local pid id
  [ -f "$RUN/$1.pid" ] || return 1
  pid=$(cat "$RUN/$1.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  id=$(cat "$RUN/$1.id" 2>/dev/null) || return 1
  if [ -d "/proc/$pid" ]; then
    # the leader exists: it must be the very process we started
    [ "$(proc_identity "$pid")" = "$id" ] || return 1
  else
    # leader gone (members may linger): only trust it within the same boot
    [ "${id%% *}" = "$(cat /proc/sys/kernel/random/boot_id)" ] || return 1
  fi
  pgid_alive "$pid"
}

# stop_groups GRACE NAME...: TERM every named group at once, wait up to
# GRACE seconds for all of them, KILL what is left.  Forgets the PID files.
stop_groups() {
  local grace=$1; shift
  local name pid i left pids=() names=()
  for name in "$@"; do
    [ -f "$RUN/$name.pid" ] || continue
    if running "$name"; then
      pid=$(cat "$RUN/$name.pid")
      kill -TERM -- "-$pid" 2>/dev/null
      pids+=("$pid"); names+=("$name")
    fi
    rm -f "$RUN/$name".{pid,id,fingerprint,started}
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  for ((i = 0; i < grace * 10; i++)); do
    left=0
    for pid in "${pids[@]}"; do pgid_alive "$pid" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if pgid_alive "${pids[$i]}"; then
      log "${names[$i]} (pgid ${pids[$i]}) still running after ${grace}s: KILL"
      kill -KILL -- "-${pids[$i]}" 2>/dev/null
    fi
    log "stopped ${names[$i]} (pgid ${pids[$i]})"
  done
}

# Stop order: OpenStack services (together), then broker and database, then
# epmd (rabbitmq's port mapper, which must outlive the broker).
SERVICE_GROUPS="heat-api heat-engine nova-compute nova-scheduler nova-conductor nova-api
  neutron-server glance-api placement keystone"
BACKEND_GROUPS="rabbitmq mariadb"
