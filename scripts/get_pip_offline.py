"""Stand-in for get-pip.py used by ansible-test's --venv bootstrap on machines that cannot reach its file host.

It installs pip with ensurepip, then runs `pip install` with the arguments ansible-test passed, minus the
get-pip-only flags.
"""
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
os.environ.pop("PIP_CONFIG_FILE", None)  # ensurepip points this at devnull, hiding the machine's pip.conf
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)
