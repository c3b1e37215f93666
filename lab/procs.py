"""Process supervision for the lab: start long-running processes in their own session, know them again by PID and
start time, and stop them so that nothing they held (ports, files) is left behind.

A process is known by PID and start time (from /proc/<pid>/stat, kept by the kernel for the task). Its command
line is no good for that: a read can come back empty or cut short while a Go binary starts up.
An entry is the dict the lab's state file records per process: name, pid, cluster, argv0, started.
"""

import os
import signal
import subprocess
import time
from pathlib import Path


class LabError(RuntimeError):
    pass


def spawn(name, argv, logs, cwd, cluster=None, env=None):
    """Start a long-running process in its own session, its output going to <logs>/<name>.log; return
    (Popen, entry)."""
    logs = Path(logs)
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / (name + ".log"), "ab")
    proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, cwd=str(cwd), env=env)
    log.close()
    st = stat(proc.pid)
    entry = {"name": name, "pid": proc.pid, "cluster": cluster, "argv0": str(argv[0]),
             "started": st[1] if st else None}
    return proc, entry


def stat(pid):
    """(state, start time) from /proc/<pid>/stat, or None once the PID is gone."""
    try:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def started(entry):
    """The start time of the process `entry` records, or None when its PID is gone or runs something else."""
    st = stat(entry["pid"])
    if st is None:
        return None
    if "started" in entry:
        return st[1] if st[1] == entry["started"] else None
    # a state file from before start times were recorded: fall back to the command line
    try:
        argv0 = Path("/proc/%d/cmdline" % entry["pid"]).read_bytes().split(b"\0")[0]
    except OSError:
        return None
    return st[1] if os.path.basename(entry["argv0"]).encode() in argv0 else None


def released(pid, start_time):
    """True once the process started at `start_time` holds nothing: reaped, recycled, or a zombie whose
    threads have all exited (a Go binary's main thread can exit while other threads still hold its sockets)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own children; others are reaped by their parent
    except ChildProcessError:
        pass
    st = stat(pid)
    if st is None or st[1] != start_time:
        return True
    try:
        threads = len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return True
    return st[0] in ("Z", "X") and threads <= 1


def alive(entry):
    t = started(entry)
    return t is not None and not released(entry["pid"], t)


def signal_all(pending, sig):
    """Signal the process group of every {pid: start time} in `pending` that still runs what was started."""
    for pid, t in pending.items():
        st = stat(pid)
        if st and st[1] == t:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass


def await_release(pending, timeout):
    """Wait up to `timeout` until every {pid: start time} is released; return those that are not."""
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = {pid: t for pid, t in pending.items() if not released(pid, t)}
        if pending:
            time.sleep(0.1)
    return pending


def stop(entries, timeout=15):
    """SIGTERM the entries (last started first), SIGKILL what outlives `timeout`, and return only once none of
    them holds a port or file; raise LabError naming what survived SIGKILL."""
    # PID -> start time, so a recycled PID is never signalled or waited for
    times = {e["pid"]: started(e) for e in reversed(entries)}
    pending = {pid: t for pid, t in times.items() if t is not None and not released(pid, t)}
    signal_all(pending, signal.SIGTERM)
    pending = await_release(pending, timeout)
    signal_all(pending, signal.SIGKILL)
    left = await_release(pending, 5)
    if left:
        raise LabError("lab processes %s survived SIGKILL; see `ps -o pid,stat,cmd -p %s`"
                       % (sorted(left), ",".join(map(str, sorted(left)))))
