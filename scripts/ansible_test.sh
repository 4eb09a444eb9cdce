#!/usr/bin/env bash
# Run ansible-test (sanity, units) on this checkout as the collection fastapi_gunicorn.deploy.
# ansible-test wants its working directory inside ansible_collections/<namespace>/<name>/, which a
# checkout seldom is: it runs in a copy of the tracked and unignored files, outside the checkout (so it
# finds no git repository above it), rebuilt on every run, with its own virtualenvs (--venv) and the
# offline pip bootstrap that scripts/setup.sh installs.
#   scripts/ansible_test.sh sanity
#   scripts/ansible_test.sh units
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
copy=${TMPDIR:-/tmp}/fastapi_gunicorn-ansible-test-$(printf %s "$root" | sha256sum | cut -c1-12)/ansible_collections/fastapi_gunicorn/deploy
rm -rf "$copy"
mkdir -p "$copy"
cd "$root"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' path; do [ -e "$path" ] && printf '%s\0' "$path"; done \
  | tar --null --files-from=- -cf - | tar -xf - -C "$copy"
cd "$copy"
python=$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
exec "$root/.venv/bin/ansible-test" "$1" --venv --python "$python" --color no "${@:2}"
