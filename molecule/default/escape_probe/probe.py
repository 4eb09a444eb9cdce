"""Tries to write where untrusted code must not, and logs what it managed to write.

Shared by setup.py (run by the installer's build backend while the role builds the venv, as the
build account) and the probe app (imported by the role's pre-switch check and by the service's
workers, as the service user). Each try leaves its file behind, so the test finds everything it wrote.
"""

import errno
import glob
import os
import socket

# The service's own code and venvs, the system, root's home: none may be written by a build or an import.
TARGETS = ["/etc/escape-probe", "/srv/fastapi_app/escape-probe", "/srv/fastapi_app/venvs/escape-probe",
           "/srv/fastapi_app/releases/escape-probe", "/etc/fastapi_app/escape-probe", "/root/escape-probe",
           "/usr/local/lib/escape-probe"]
# Where root writes into a venv once the build is over: a build plants links there, to files of root's.
ROOT_WRITES = [".complete", ".complete.new", "requirements.txt", "constraints.txt", "wheelhouse.tar", ".wheelhouse.tar"]
SKIP = ("/proc", "/sys", "/dev")


def try_write(path, tag):
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(f"written by {tag}\n")
        return True
    except OSError:
        return False


def everywhere(tag):
    """Every directory this process can create a file in (/dev/shm is the one place under /dev it may).
    Each file is named after the process: workers of one service share their directories."""
    wrote = []
    for top in ["/"]:
        for directory, subdirectories, _files in os.walk(top):
            subdirectories[:] = [d for d in subdirectories if os.path.join(directory, d) not in SKIP]
            if try_write(os.path.join(directory, f"escape-probe-{tag}-{os.getpid()}"), tag):
                wrote.append(directory)
    if try_write(f"/dev/shm/escape-probe-{tag}-{os.getpid()}", tag):
        wrote.append("/dev/shm")
    return wrote


def plant_links():
    """Links named like what root writes into a venv, in every venv and tool directory the build may write."""
    planted = []
    for parent in ("/srv/fastapi_app/venvs", "/srv/fastapi_app/tools"):
        for name in sorted(os.listdir(parent)) if os.path.isdir(parent) else []:
            for written in ROOT_WRITES:
                link = os.path.join(parent, name, written)
                try:
                    os.symlink(f"/etc/escape-probe-link-{written.strip('.')}", link)
                    planted.append(link)
                except OSError:
                    pass
    return planted


def spy():
    """The processes of other accounts this one can see, and how many of their environments (the
    service's holds its secrets) it can read."""
    others, read = 0, 0
    for pid in (name for name in os.listdir("/proc") if name.isdigit()):
        try:
            if os.stat(f"/proc/{pid}").st_uid == os.getuid():
                continue
            others += 1
            with open(f"/proc/{pid}/environ", "rb") as handle:
                read += bool(handle.read(1))
        except OSError:
            pass
    return others, read


def denied():
    """What connecting to an address of fastapi_gunicorn_ip_address_deny gives (the scenario adds
    127.0.0.2, where nothing listens): a timeout when the sandbox drops the packets, else ECONNREFUSED."""
    try:
        socket.create_connection(("127.0.0.2", 9), timeout=2).close()
        return "connected"
    except OSError as error:
        return errno.errorcode.get(error.errno, "timeout") if error.errno else "timeout"


def credentials():
    """The index credentials (the scenario's index URL holds a test one): how many root-only files of a
    build's inputs hold them, whether this process can read one, and whether its environment has them."""
    files = glob.glob("/srv/fastapi_app/builds/*/index.env")
    readable = 0
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                readable += bool(handle.read(1))
        except OSError:
            pass
    environment = os.environ.get("UV_DEFAULT_INDEX", "") + os.environ.get("PIP_INDEX_URL", "")
    return len(files), readable, int("fastapi-gunicorn-test-credential" in environment)


def probe(tag, log):
    escaped = [path for path in TARGETS if try_write(path, tag)]
    planted = plant_links() if tag == "build" else []
    wrote = everywhere(tag)
    others, read = spy()
    try:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{tag} uid={os.getuid()} escaped={escaped}\n")
            handle.write(f"{tag} planted={len(planted)} wrote={sorted(wrote)}\n")
            handle.write(f"{tag} other_processes={others} environments_read={read} denied_address={denied()}\n")
            handle.write("%s index_env_files=%d index_env_readable=%d credential_in_environment=%d\n" % ((tag,) + credentials()))
    except OSError:
        pass  # the pre-switch check may write nowhere at all
