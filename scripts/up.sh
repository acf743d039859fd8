#!/bin/bash
# The README's first command: install what is missing, build, start berthd
# (default paths, or the berthd flags given here), make sure a first
# container runs on it (scripts/first-container.sh: a tiny busybox image
# built offline and imported, `ctr run -d ... first`), then keep berthd in
# the foreground until it exits. SIGTERM, SIGINT and SIGHUP are passed on to
# berthd once; its exit status is this script's.
#
#   sudo ./scripts/up.sh [berthd flags]      e.g. --address /tmp/b.sock --root /tmp/b --state /tmp/b-run
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

# `berthd config default` and other subcommands run as they are.
if (($# > 0)) && [[ $1 != -* ]]; then
  exec ./bin/berthd "$@"
fi

# The socket ctr talks to: berthd's default unless --address is given (an
# address set only in the config file needs --address here as well).
address=/run/berth/berth.sock
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --address) address=${args[i + 1]:-} ;;
    --address=*) address=${args[i]#--address=} ;;
  esac
done

say() { echo "up: $*" >&2; }

# In its own session, so a Ctrl-C on the terminal reaches berthd once,
# through this script, rather than twice (a second signal stops it at once).
setsid ./bin/berthd "$@" &
pid=$!
# Every signal this script gets is passed on; the script's own stop is sent
# only if none was (berthd takes a second signal as "exit at once").
signalled=
forward() {
  signalled=1
  kill -s "$1" "$pid" 2>/dev/null || true
}
trap 'forward TERM' TERM HUP
trap 'forward INT' INT
stop_berthd() {
  [[ -n $signalled ]] || kill -s TERM "$pid" 2>/dev/null || true
  wait_berthd || true
}

# Waits for berthd; returns its exit status.
wait_berthd() {
  local status=0
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid" && status=0 || status=$?
  done
  # The status of a job already reaped is still known to the shell.
  wait "$pid" && status=0 || status=$?
  return "$status"
}

deadline=$((SECONDS + 60))
until ctr --address "$address" version >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait_berthd && status=0 || status=$?
    say "berthd exited (status $status) before serving on $address"
    exit "$((status == 0 ? 1 : status))"
  fi
  if ((SECONDS > deadline)); then
    say "berthd did not serve on $address within 60 s; stopping it"
    stop_berthd
    exit 1
  fi
  sleep 0.2
done
say "berthd (pid $pid) serves on $address"

if ! ./scripts/first-container.sh "$address"; then
  say "could not start the first container; stopping berthd"
  stop_berthd
  exit 1
fi
say "berthd runs in the foreground; Ctrl-C or SIGTERM stops it (containers keep running in their shims)"

wait_berthd && status=0 || status=$?
say "berthd exited (status $status)"
exit "$status"
