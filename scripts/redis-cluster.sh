#!/usr/bin/env bash
# A LOCAL Redis Cluster of 3 masters + 3 replicas on 127.0.0.1, for tests and the chaos harness.
#
#   scripts/redis-cluster.sh start  [BASE_PORT]   # ports BASE..BASE+5 (default 7100..7105)
#   scripts/redis-cluster.sh stop   [BASE_PORT]
#   scripts/redis-cluster.sh status [BASE_PORT]   # exit 0 when healthy
#
# `start` prints the seed-node list (127.0.0.1:7100,...,127.0.0.1:7105) as the LAST line of
# stdout; everything else goes to stderr, so `nodes=$(scripts/redis-cluster.sh start)` works.
# It is idempotent: a healthy cluster on those ports is left alone. Nodes that are running but do
# not form a healthy cluster (after a short grace period), and stale data dirs from an earlier run,
# are stopped and wiped before a fresh cluster is created.
#
# Environment:
#   CLUSTER_DIR              where node dirs live (default /tmp/lumi-redis-cluster), one per port
#   CLUSTER_WAIT_SECONDS     how long `start` waits for the cluster to become healthy (default 30)
#
# Each node's cluster bus uses port+10000, so BASE_PORT+5+10000 must be a valid port.
set -euo pipefail

readonly NODES=6
readonly HOST=127.0.0.1
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/lumi-redis-cluster}
CLUSTER_WAIT_SECONDS=${CLUSTER_WAIT_SECONDS:-30}

log() { printf 'redis-cluster: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/redis-cluster.sh start|stop|status [BASE_PORT]
EOF
  exit 2
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  log "redis-server/redis-cli missing: installing redis-server redis-tools with apt-get"
  as_root apt-get update >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-tools >&2
  command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after apt-get install"
  command -v redis-cli >/dev/null 2>&1 || die "redis-cli still missing after apt-get install"
}

# rcli PORT ARGS... : one redis-cli call with a hard time limit, CRs stripped.
rcli() {
  local port=$1
  shift
  local out
  out=$(timeout 3 redis-cli -h "$HOST" -p "$port" "$@" 2>/dev/null) || return 1
  printf '%s\n' "${out//$'\r'/}"
}

node_dir() { printf '%s/%s' "$CLUSTER_DIR" "$1"; }

# The PID of OUR redis-server on PORT, or nothing. Trusts the pidfile only when that process is a
# redis-server serving PORT (PIDs get reused); falls back to asking the node itself when it runs
# from our data dir (a pidfile can be lost while the node still runs).
node_pid() {
  local port=$1 dir pid args answer
  dir=$(node_dir "$port")
  if [[ -f "$dir/redis.pid" ]]; then
    pid=$(tr -dc '0-9' <"$dir/redis.pid")
    if [[ -n "$pid" ]] && args=$(ps -o args= -p "$pid" 2>/dev/null) &&
      [[ "$args" == *redis-server* && "$args" =~ :$port( |$) ]]; then
      printf '%s\n' "$pid"
      return 0
    fi
  fi
  answer=$(rcli "$port" config get dir) || return 0
  if [[ "$(sed -n 2p <<<"$answer")" == "$dir" ]]; then
    rcli "$port" info server | sed -n 's/^process_id://p'
  fi
}

# Alive and not a zombie: where PID 1 does not reap (some containers), a stopped daemon lingers
# as <defunct> and `kill -0` would still succeed.
alive() {
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n "$stat" && "$stat" != Z* ]]
}

port_in_use() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

node_list() {
  local port list=()
  for port in "${PORTS[@]}"; do list+=("$HOST:$port"); done
  local IFS=,
  printf '%s\n' "${list[*]}"
}

# healthy [quiet]: every node answers with cluster_state:ok, all 16384 slots assigned and ok,
# 6 known nodes, 3 masters that each have an online replica, 3 replicas with their link up.
REASON=""
healthy() {
  local port info repl role want n masters=0 replicas=0
  REASON=""
  for port in "${PORTS[@]}"; do
    if ! info=$(rcli "$port" cluster info); then
      REASON="node $port does not answer"
      return 1
    fi
    if ! grep -qx 'cluster_state:ok' <<<"$info"; then
      REASON="node $port: $(grep '^cluster_state:' <<<"$info" || echo 'no cluster_state (cluster mode off?)')"
      return 1
    fi
    for want in cluster_slots_assigned:16384 cluster_slots_ok:16384 cluster_known_nodes:$NODES cluster_size:3; do
      if ! grep -qx "$want" <<<"$info"; then
        REASON="node $port: want $want, have $(grep "^${want%%:*}:" <<<"$info" || echo none)"
        return 1
      fi
    done
    if ! repl=$(rcli "$port" info replication); then
      REASON="node $port does not answer INFO replication"
      return 1
    fi
    role=$(sed -n 's/^role://p' <<<"$repl")
    case "$role" in
      master)
        n=$(sed -n 's/^connected_slaves://p' <<<"$repl")
        if [[ "${n:-0}" -lt 1 ]] || ! grep -q '^slave0:.*state=online' <<<"$repl"; then
          REASON="master $port has no online replica (connected_slaves:${n:-?})"
          return 1
        fi
        masters=$((masters + 1))
        ;;
      slave)
        if ! grep -qx 'master_link_status:up' <<<"$repl"; then
          REASON="replica $port: link to its master is not up"
          return 1
        fi
        replicas=$((replicas + 1))
        ;;
      *)
        REASON="node $port: unknown role '$role'"
        return 1
        ;;
    esac
  done
  if [[ $masters -ne 3 || $replicas -ne 3 ]]; then
    REASON="want 3 masters + 3 replicas, have $masters + $replicas"
    return 1
  fi
}

wait_healthy() {
  local deadline=$((SECONDS + $1))
  while ! healthy; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.5
  done
}

stop_nodes() {
  local port pid pids=() deadline
  for port in "${PORTS[@]}"; do
    pid=$(node_pid "$port")
    if [[ -n "$pid" ]]; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  deadline=$((SECONDS + 15))
  for pid in "${pids[@]}"; do
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if alive "$pid"; then
      log "pid $pid ignored SIGTERM for 15 s: sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 5))
      while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
      if alive "$pid"; then die "pid $pid survived SIGKILL"; fi
    fi
  done
  for port in "${PORTS[@]}"; do rm -rf "$(node_dir "$port")"; done
  rmdir "$CLUSTER_DIR" 2>/dev/null || true
  if ((${#pids[@]} > 0)); then log "stopped ${#pids[@]} node(s): ${pids[*]}"; fi
}

start_cluster() {
  local port dir running=0 pid
  ensure_redis
  if healthy; then
    node_list
    return 0
  fi

  for port in "${PORTS[@]}"; do
    pid=$(node_pid "$port")
    if [[ -n "$pid" ]]; then
      running=$((running + 1))
    elif port_in_use "$port" || port_in_use $((port + 10000)); then
      die "port $port (or its bus port $((port + 10000))) is in use by something that is not this cluster's node; pick another BASE_PORT"
    fi
  done
  if ((running == NODES)); then
    # All up: perhaps still converging (replica sync, a failover). Give it a moment.
    log "all nodes run but the cluster is not healthy ($REASON); waiting up to 10 s"
    if wait_healthy 10; then
      node_list
      return 0
    fi
    log "still not healthy ($REASON): recreating the cluster"
  elif ((running > 0)); then
    log "only $running of $NODES nodes run ($REASON): recreating the cluster"
  fi
  # Stops what runs and wipes stale data dirs (old nodes-P.conf would make `--cluster create` fail).
  stop_nodes

  for port in "${PORTS[@]}"; do
    dir=$(node_dir "$port")
    mkdir -p "$dir"
    redis-server --port "$port" --bind "$HOST" \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 2000 \
      --appendonly yes --dir "$dir" --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" >&2 9>&-
  done
  local deadline=$((SECONDS + 10))
  for port in "${PORTS[@]}"; do
    until [[ "$(rcli "$port" ping || true)" == PONG ]]; do
      if ((SECONDS >= deadline)); then
        tail -n 20 "$(node_dir "$port")/redis.log" >&2 || true
        die "node $port did not start"
      fi
      sleep 0.1
    done
  done

  local addrs=()
  for port in "${PORTS[@]}"; do addrs+=("$HOST:$port"); done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >&2 ||
    die "redis-cli --cluster create failed (nodes left running for inspection; 'stop' removes them)"

  if ! wait_healthy "$CLUSTER_WAIT_SECONDS"; then
    redis-cli -h "$HOST" -p "${PORTS[0]}" cluster nodes >&2 || true
    die "cluster not healthy after ${CLUSTER_WAIT_SECONDS}s: $REASON"
  fi
  log "cluster healthy (data in $CLUSTER_DIR)"
  node_list
}

main() {
  [[ $# -ge 1 && $# -le 2 ]] || usage
  local cmd=$1 base=${2:-7100}
  if ! [[ "$base" =~ ^[0-9]+$ ]] || ((base < 1024 || base + NODES - 1 + 10000 > 65535)); then
    die "BASE_PORT must be a number from 1024 to $((65535 - 10000 - NODES + 1))"
  fi
  PORTS=()
  local i
  for ((i = 0; i < NODES; i++)); do PORTS+=($((base + i))); done

  mkdir -p "$(dirname "$CLUSTER_DIR")"
  # Serialise concurrent invocations for the same ports (parallel test runs, CI retries).
  if command -v flock >/dev/null 2>&1; then
    # The servers are started with fd 9 closed, or the daemons would hold the lock forever.
    exec 9>"${CLUSTER_DIR%/}.$base.lock"
    flock -w 120 9 || die "another redis-cluster.sh for base port $base holds the lock"
  fi

  case "$cmd" in
    start) start_cluster ;;
    stop) stop_nodes ;;
    status)
      command -v redis-cli >/dev/null 2>&1 || die "redis-cli is not installed"
      if healthy; then
        log "healthy"
        node_list
      else
        die "not healthy: $REASON"
      fi
      ;;
    *) usage ;;
  esac
}

PORTS=()
main "$@"
