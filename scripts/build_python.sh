#!/usr/bin/env bash
# Build a CPython interpreter archive for fastapi_gunicorn_python_archive, in python-build-standalone's
# install_only layout (one top directory, python/, holding bin/python3): for hosts, or sites, that
# cannot download python-build-standalone from GitHub. The source is Debian's own (its sha256 is
# checked first); it is compiled as an unprivileged user in a throwaway container of the Debian 12
# test image, so the archive runs on Debian 12 and newer. Prints the archive's path; an archive
# already built is kept and printed again.
#   scripts/build_python.sh [OUTPUT_DIR]     (default ~/.cache/fastapi_gunicorn_lab/python)
set -euo pipefail

version=3.13.5
source_sha256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
source_url=http://deb.debian.org/debian/pool/main/p/python3.13/python3.13_${version}.orig.tar.xz
image=${FASTAPI_GUNICORN_TEST_IMAGE_DEBIAN12:-fastapi-gunicorn-debian12-systemd:latest}
out=${1:-$HOME/.cache/fastapi_gunicorn_lab/python}
archive=$out/cpython-$version-$(uname -m)-linux-gnu-install_only.tar.gz

if [ -f "$archive" ]; then echo "$archive"; exit 0; fi
mkdir -p "$out"
# One build at a time: a second caller waits for the first's archive (make test starts one early).
exec 9>"$out/.lock"
flock 9
if [ -f "$archive" ]; then echo "$archive"; exit 0; fi
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 0777 "$work"

curl -fsSL --retry 3 -o "$work/source.tar.xz" "$source_url"
echo "$source_sha256  $work/source.tar.xz" | sha256sum --check --quiet -

# Compiled without debug symbols at -O2; installed under /python, which the interpreter does not need
# at run time: it finds its library next to its executable, wherever the archive is unpacked.
# shellcheck disable=SC2016  # expanded by the build container's shell, not this one
build='set -e; cd "$HOME"; tar -xf /work/source.tar.xz; cd Python-*
  OPT="-DNDEBUG -fwrapv -O2" ./configure --quiet --prefix=/python --disable-test-modules --without-ensurepip
  make --quiet -j"$(nproc)" >/dev/null; make --quiet install DESTDIR="$HOME/dest" >/dev/null
  "$HOME/dest/python/bin/python3" -c "import ssl, sqlite3, ctypes, lzma, bz2, zlib, venv, ensurepip"
  tar -C "$HOME/dest" -czf /work/python.tar.gz python'
# The container's CPU weight is 2, against the default 1024 of every other container and process
# group: make test builds it beside the default scenario, which must not wait for it. (A nice value
# inside the container would only rank the build against itself.)
docker run --rm --cpu-shares 2 --volume "$work:/work" --entrypoint /bin/sh "$image" -ec "
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc make libc6-dev libssl-dev zlib1g-dev \
    libffi-dev libsqlite3-dev libbz2-dev liblzma-dev xz-utils >/dev/null
  useradd --create-home builder
  su builder --shell /bin/sh --command '$build'"
# A copy, not a move: the archive belongs to whoever runs this script, not to the container's user.
cp "$work/python.tar.gz" "$archive.partial" && mv "$archive.partial" "$archive"
echo "$archive"
