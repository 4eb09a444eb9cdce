#!/usr/bin/env bash
# Every test, as `make test` runs it (after scripts/setup.sh), each part with its time; the first part
# that fails stops the run. The parts that use no test containers of their own (lint, sanity, units,
# pytest) run beside the `default` scenario, which has no load test; the load-tested scenarios
# (`fleet`, `zero_downtime`) run alone after them. The interpreter archive the zero_downtime scenario
# deploys is built in the background from the start, at the lowest CPU weight (scripts/build_python.sh:
# once, then cached).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
logs=$(mktemp -d "${TMPDIR:-/tmp}/fastapi_gunicorn-test.XXXXXX")

# part NAME COMMAND...: run it, print its time; its output goes to the terminal.
part() {
  local name=$1 start
  shift
  start=$(date +%s)
  "$@" || { echo "== $name: FAILED after $(( $(date +%s) - start )) s"; return 1; }
  echo "== $name: passed in $(( $(date +%s) - start )) s"
}

bash scripts/build_python.sh >"$logs/python.log" 2>&1 &

# The container-free parts, one after another, beside the default scenario.
(
  part lint bash -c 'yamllint -s . && ansible-lint --profile production' &&
  part sanity scripts/ansible_test.sh sanity &&
  part units scripts/ansible_test.sh units &&
  part pytest pytest -v -p no:cacheprovider tests/ --ignore=tests/unit
) >"$logs/checks.log" 2>&1 &
checks=$!
part "molecule default" molecule test -s default >"$logs/default.log" 2>&1 &
default=$!
wait "$checks"; checks_status=$?
wait "$default"; default_status=$?
for log in checks default; do
  echo "---------- $log ----------"
  cat "$logs/$log.log"
done
grep -h '^== ' "$logs/checks.log" "$logs/default.log"
[ "$checks_status" -eq 0 ] && [ "$default_status" -eq 0 ] || exit 1

for scenario in fleet zero_downtime; do
  part "molecule $scenario" molecule test -s "$scenario" || exit 1
done
echo "== every test: passed in $SECONDS s"
rm -rf "$logs"
