"""An offline stand-in for ansible-test's pip bootstrap (get-pip.py), which it downloads from a host
outside the package index. scripts/setup.sh saves it as ~/.ansible/test/cache/get_pip_<version>.py,
where ansible-test looks first. It installs what get-pip.py would (the pinned pip), from the index:
ensurepip gives the venv a pip, which then installs the arguments. get-pip.py's own options
--no-setuptools and --no-wheel are not pip options, and a venv has neither package anyway."""

import subprocess
import sys

OWN_OPTIONS = {"--no-setuptools", "--no-wheel"}

subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
subprocess.run([sys.executable, "-m", "pip", "install", *(a for a in sys.argv[1:] if a not in OWN_OPTIONS)], check=True)
