#!/bin/sh
# Build the wheelhouse of a dependency set, as the build account in its sandbox: the wheels of every
# requirement (pip wheel, from the index; package build code runs here), and uv's own wheel when uv
# installs, packed as wheelhouse.tar for the controller. Root takes the directory over afterwards.
# Arguments: the output directory (owned by the build account), the interpreter, root's inputs
# directory (requirements.txt), "hashes" when the set is hash-locked, and the uv version or empty.
set -eu
out=$1 python=$2 inputs=$3 hashes=$4 uv_version=$5
"$python" -m venv "$out/pip"
set -- --quiet --wheel-dir "$out/.wheels" --requirement "$inputs/requirements.txt"
[ -z "$hashes" ] || set -- "$@" --require-hashes
"$out/pip/bin/pip" wheel "$@"
if [ -n "$uv_version" ]; then
  "$out/pip/bin/pip" download --quiet --only-binary=:all: --no-deps --dest "$out/.wheels" "uv==$uv_version"
fi
rm -rf "$out/pip"
tar -C "$out" -cf "$out/wheelhouse.tar" .wheels
