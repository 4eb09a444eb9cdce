#!/bin/sh
# Build the virtualenv of a dependency set, as the build account in its sandbox: it may write only the
# new venv, uv's directory when uv is still to be installed there, and the build cache. Package build
# code runs here, never as root or as the service user; root takes the result over afterwards.
# Arguments:
#   installer      uv or pip
#   venv           the new virtualenv's directory (made by root, owned by the build account)
#   python         the interpreter the venv is made from
#   system_python  the interpreter uv is installed with (it outlives interpreter archives)
#   inputs         root's directory with requirements.txt (and constraints.txt, a wheelhouse)
#   uv_dir         uv's directory; uv_version, and install_uv (non-empty: install uv there first)
#   hashes         non-empty: the set is hash-locked (--require-hashes)
#   wheels         a directory of wheels to install from without an index (root's), or empty
set -eu
installer=$1 venv=$2 python=$3 system_python=$4 inputs=$5 uv_dir=$6 uv_version=$7 install_uv=$8 hashes=$9
shift 9
wheels=$1

set -- --requirement "$inputs/requirements.txt"
[ -z "$hashes" ] || set -- "$@" --require-hashes
[ -z "$wheels" ] || set -- "$@" --no-index --find-links "$wheels"

case $installer in
  uv)
    if [ -n "$install_uv" ]; then
      "$system_python" -m venv "$uv_dir"
      if [ -n "$wheels" ]; then
        "$uv_dir/bin/pip" install --quiet --no-cache-dir --only-binary=:all: --no-index --find-links "$wheels" "uv==$uv_version"
      else
        "$uv_dir/bin/pip" install --quiet --no-cache-dir --only-binary=:all: "uv==$uv_version"
      fi
    fi
    "$uv_dir/bin/uv" venv --quiet --allow-existing --python "$python" "$venv"
    "$uv_dir/bin/uv" pip install --quiet --python "$venv/bin/python" "$@"
    ;;
  pip)
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --no-input "$@"
    ;;
  *)
    echo "unknown installer $installer" >&2
    exit 2
    ;;
esac
