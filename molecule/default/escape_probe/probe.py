"""Tries to write where untrusted code must not, and logs what it managed to write.

Shared by setup.py (run by pip's build backend while the role builds the venv) and the probe app
(imported by the role's pre-switch check and by the service's workers).
"""

import os

# The service's own code and venvs, the system, root's home: none may be written by a build or an import.
TARGETS = ["/etc/escape-probe", "/srv/fastapi_app/escape-probe", "/srv/fastapi_app/venvs/escape-probe",
           "/srv/fastapi_app/releases/escape-probe", "/etc/fastapi_app/escape-probe", "/root/escape-probe",
           "/usr/local/lib/escape-probe"]


def probe(tag, log):
    escaped = []
    for path in TARGETS:
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(f"written by {tag}\n")
            escaped.append(path)
        except OSError:
            pass
    try:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{tag} uid={os.getuid()} escaped={escaped}\n")
    except OSError:
        pass  # the pre-switch check may write nowhere at all
