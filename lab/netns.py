"""Loopback-only network namespaces: every lab process and every client of the lab runs in one.

The API servers dial webhook and Service ClusterIPs; inside a namespace that has only `lo` those dials fail
at once instead of leaving the machine.
"""

import os
import subprocess
import sys

NAMED = "ambientmesh-lab"


def interfaces():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]


def isolated():
    """True when this process sees no network interface but loopback."""
    return interfaces() == ["lo"]


def require_isolated():
    if not isolated():
        raise SystemExit(
            "refusing to start lab processes outside a loopback-only network namespace "
            "(interfaces here: %s); use `python -m lab up` (named namespace %r) or "
            "`python -m lab sandbox -- COMMAND`" % (", ".join(interfaces()), NAMED))


def ensure_named():
    """Create the named namespace for a long-lived lab (make demo) with `lo` up."""
    existing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    if not any(line.split()[0] == NAMED for line in existing.splitlines() if line.strip()):
        subprocess.run(["ip", "netns", "add", NAMED], check=True)
    subprocess.run(["ip", "netns", "exec", NAMED, "ip", "link", "set", "lo", "up"], check=True)


def named_in_use():
    """True while any process (other labs, a developer's shell) still lives in the named namespace."""
    try:
        inode = os.stat("/run/netns/" + NAMED).st_ino
    except OSError:
        return False
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat("/proc/%s/ns/net" % pid).st_ino == inode:
                return True
        except OSError:
            continue
    return False


def delete_named():
    """Remove the named namespace once nothing runs in it any more."""
    if not named_in_use():
        subprocess.run(["ip", "netns", "delete", NAMED], capture_output=True, check=False)


def exec_in_named(argv, env=None):
    """Replace this process with argv running inside the named namespace."""
    os.execvpe("ip", ["ip", "netns", "exec", NAMED] + list(argv), env or os.environ)


def exec_in_private(argv, env=None):
    """Replace this process with argv in a fresh private namespace that dies with it (tests)."""
    script = 'ip link set lo up && exec "$@"'
    os.execvpe("unshare", ["unshare", "--net", "--fork", "--kill-child", "sh", "-c", script, "sh"] + list(argv),
               env or os.environ)


def python_argv(*args):
    return [sys.executable, "-m", "lab"] + list(args)
