#!/bin/sh
# Restart companion units after the service passed its health gate, then check that each worker (a
# .service) is still active with the process it started with, $1 seconds later. On failure, the last
# line of stderr names the units that did not stay up.
# Arguments: the settle seconds, then the units.
set -eu
settle=$1
shift
systemctl reset-failed -- "$@" 2>/dev/null || true
systemctl restart -- "$@"
started=""
for unit in "$@"; do
  case $unit in
    *.service) started="$started $unit=$(systemctl show --property=MainPID --value -- "$unit")" ;;
  esac
done
[ -n "$started" ] || exit 0
sleep "$settle"
down=""
for entry in $started; do
  unit=${entry%=*} pid=${entry##*=}
  state=$(systemctl show --property=ActiveState --value -- "$unit")
  if [ "$state" != active ] || [ "$pid" = 0 ] || [ "$(systemctl show --property=MainPID --value -- "$unit")" != "$pid" ]; then
    journalctl --unit="$unit" --lines=5 --no-pager >&2 || true
    down="$down $unit ($state, $(systemctl show --property=Result --value -- "$unit"))"
  fi
done
[ -z "$down" ] || { echo "companion workers did not stay up for $settle s:$down" >&2; exit 1; }
