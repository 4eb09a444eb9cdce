#!/usr/bin/env bash
# Prepare a fresh Debian machine for the lab and the tests:
#   1. a Python virtualenv (.venv) with the pinned controller tools,
#   2. a running Docker engine (Debian's docker.io, started here when none answers),
#   3. the Debian 12 and Debian 13 systemd test images, built locally with debootstrap when missing;
#   4. the link that makes this checkout the collection fastapi_gunicorn.deploy (.collections/), and
#      ansible-test's pip bootstrap, which it cannot download here (scripts/get_pip_offline.py).
# Idempotent: each step is skipped when its result is already there.
# FASTAPI_GUNICORN_TEST_IMAGE_DEBIAN12 / _DEBIAN13 name ready-made images (e.g. from your registry)
# to pull instead of building.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv

log() { printf '== setup: %s\n' "$*"; }

# The images are built side by side: one apt-get at a time (under a lock on this script), and what the
# other one installed is not asked for again.
apt_install() {
  (
    flock 9
    missing=()
    for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && exit 0
    [ "$(id -u)" -eq 0 ] || { echo "setup: need root to install ${missing[*]}" >&2; exit 1; }
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ) 9<"${BASH_SOURCE[0]}"
}

ensure_venv() {
  local stamp=$venv/.requirements.sha256 want
  want=$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "virtualenv $venv from requirements.txt"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r "$root/requirements.txt" >"$venv/pip-install.log" 2>&1 \
    || { cat "$venv/pip-install.log" >&2; exit 1; }
  echo "$want" > "$stamp"
}

ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  apt_install docker.io
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting dockerd in the background (log: /var/log/fastapi-gunicorn-dockerd.log)"
  nohup dockerd >/var/log/fastapi-gunicorn-dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "setup: dockerd did not answer within 60 s; see /var/log/fastapi-gunicorn-dockerd.log" >&2
  exit 1
}

# ensure_image VERSION CODENAME: the image the lab and the tests use for Debian VERSION.
ensure_image() {
  local version=$1 codename=$2 override image rootfs
  override=FASTAPI_GUNICORN_TEST_IMAGE_DEBIAN$version
  image=${!override:-fastapi-gunicorn-debian$version-systemd:latest}
  if docker image inspect "$image" >/dev/null 2>&1; then return 0; fi
  if [ -n "${!override:-}" ]; then
    log "pulling $image"
    docker pull "$image"
    return 0
  fi
  apt_install debootstrap
  rootfs=$(mktemp -d /var/tmp/fastapi-gunicorn-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' RETURN
  log "debootstrap Debian $version ($codename) into $rootfs (about a minute)"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-venv,python3-apt,ca-certificates,curl,iproute2,procps \
    "$codename" "$rootfs" http://deb.debian.org/debian >/dev/null
  # A container boots systemd as PID 1: no getty, no hardware units, a machine-id made at boot.
  rm -f "$rootfs/etc/machine-id" && touch "$rootfs/etc/machine-id"
  for unit in getty.target systemd-udevd.service systemd-udev-trigger.service \
              systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount \
              systemd-remount-fs.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
  done
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  log "importing $image"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
    - "$image" >/dev/null
}

# ansible.cfg puts .collections/ on the collection path: the checkout is fastapi_gunicorn.deploy.
ensure_collection_link() {
  mkdir -p "$root/.collections/ansible_collections/fastapi_gunicorn"
  ln -sfn ../../.. "$root/.collections/ansible_collections/fastapi_gunicorn/deploy"
}

# ansible-test bootstraps pip in each of its virtualenvs with a script it downloads from a host outside
# the package index; the stand-in installs the same pip from the index (ansible-test looks in its cache first).
ensure_pip_bootstrap() {
  local source version cache
  source=$("$venv/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py
  version=$(sed -n "s/^ *pip='\([0-9.]*\)',\{0,1\}$/\1/p" "$source" | head -n 1)
  [ -n "$version" ] || { echo "setup: cannot find the pip version ansible-test bootstraps in $source" >&2; exit 1; }
  cache=$HOME/.ansible/test/cache
  mkdir -p "$cache"
  install -m 0644 "$root/scripts/get_pip_offline.py" "$cache/get_pip_${version//./_}.py"
}

cd "$root"
ensure_collection_link
# The virtualenv comes from the package index and the images from Debian's mirror: each is made beside the others.
ensure_venv & venv_job=$!
ensure_docker
ensure_image 12 bookworm & image12_job=$!
ensure_image 13 trixie & image13_job=$!
for job in "$venv_job" "$image12_job" "$image13_job"; do wait "$job"; done
ensure_pip_bootstrap
log "ready: $("$venv/bin/ansible" --version | sed -n 1p), docker $(docker version -f '{{.Server.Version}}'), Debian 12 and 13 images"
