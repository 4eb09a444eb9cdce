#!/bin/sh
# Build the wheelhouse of a dependency set, as the build account in its sandbox: the wheels of every
# requirement (pip wheel, from the index; package build code runs here), and uv's own wheel when uv
# installs, packed into one tar file for the controller. Root takes the directory over afterwards.
# Arguments: the output directory (owned by the build account), the interpreter, root's inputs
# directory (requirements.txt), "hashes" when the set is hash-locked, the uv version or empty, and the
# tar file's name (the set's own: hosts that fetch at once each fetch a name of their own).
set -eu
out=$1 python=$2 inputs=$3 hashes=$4 uv_version=$5 packed=$6
"$python" -m venv "$out/pip"
set -- --quiet --wheel-dir "$out/.wheels" --requirement "$inputs/requirements.txt"
[ -z "$hashes" ] || set -- "$@" --require-hashes
"$out/pip/bin/pip" wheel "$@"
if [ -n "$uv_version" ]; then
  "$out/pip/bin/pip" download --quiet --only-binary=:all: --no-deps --dest "$out/.wheels" "uv==$uv_version"
fi
rm -rf "$out/pip"
tar -C "$out" -cf "$out/$packed" .wheels
