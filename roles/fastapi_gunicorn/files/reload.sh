#!/bin/sh
# A graceful reload of a gunicorn service: HUP (systemctl reload) starts new workers with the new code
# and config, and the old ones finish their requests and exit. systemctl returns as soon as the signal
# is sent, so this waits until every old worker is gone and as many new ones run as the installed
# config asks for (a rollback may go back to another count).
# Arguments: the unit, its gunicorn_conf.py, the seconds to wait.
set -eu
unit=$1 conf=$2 timeout=$3
want=$(sed -n 's/^workers = \([0-9][0-9]*\)$/\1/p' "$conf")
main=$(systemctl show --property MainPID --value "$unit")
# A stopped service has nothing to reload: the run phase starts it.
if [ "$main" = 0 ]; then echo "stopped: nothing to reload"; exit 0; fi
old=" $(pgrep --parent "$main" | tr '\n' ' ')"
systemctl reload "$unit"
end=$(( $(date +%s) + timeout ))
while :; do
  now=$(pgrep --parent "$main" | tr '\n' ' ' || true)
  left=no count=0
  for pid in $now; do
    count=$((count + 1))
    case "$old" in *" $pid "*) left=yes ;; esac
  done
  if [ "$left" = no ] && [ "$count" -gt 0 ] && { [ -z "$want" ] || [ "$count" -eq "$want" ]; }; then
    echo "reloaded: master $main, workers $now"
    exit 0
  fi
  if [ "$(date +%s)" -ge "$end" ]; then
    echo "after ${timeout}s: workers $now, want ${want:-some} new ones; old:$old" >&2
    exit 1
  fi
  sleep 0.2
done
