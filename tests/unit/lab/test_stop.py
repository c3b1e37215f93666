"""Stopping lab processes waits until they hold nothing, not just until their command line is gone."""

import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab import procs
from lab.cluster import Lab

# The main thread exits first on SIGTERM and another thread keeps the listening socket a while longer, as a Go
# binary's threads may: /proc/<pid>/cmdline is already empty while the port is still held.
LEADER_EXITS_FIRST = textwrap.dedent("""
    import ctypes, os, signal, socket, sys, threading, time
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    open(sys.argv[1], "w").write(str(sock.getsockname()[1]))
    def linger():
        time.sleep(1.5)
        os._exit(0)
    def on_term(*_):
        threading.Thread(target=linger).start()
        ctypes.CDLL(None).pthread_exit(None)
    signal.signal(signal.SIGTERM, on_term)
    while True:
        time.sleep(1)
""")

IGNORES_TERM = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)\n"


def _spawn(lab, tmp_path, name, script, *args):
    path = tmp_path / (name + ".py")
    path.write_text(script)
    state = lab.load()
    return lab.spawn(state, name, [sys.executable, path] + list(args))


def _wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < deadline, "child never wrote " + str(path)
        time.sleep(0.05)
    return int(path.read_text())


def _port_free(port):
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def test_stop_waits_for_threads_that_outlive_the_leader(tmp_path):
    lab = Lab(tmp_path / "lab")
    proc = _spawn(lab, tmp_path, "lingering", LEADER_EXITS_FIRST, tmp_path / "port")
    port = _wait_for(tmp_path / "port")
    assert not _port_free(port)
    stopped = lab.stop_processes()
    assert [p["pid"] for p in stopped] == [proc.pid]
    assert _port_free(port), "stop_processes returned while a thread of the stopped process held its port"
    assert lab.load()["processes"] == []


def test_stop_kills_what_ignores_sigterm(tmp_path):
    lab = Lab(tmp_path / "lab")
    proc = _spawn(lab, tmp_path, "stubborn", IGNORES_TERM)
    time.sleep(0.5)  # let it install the handler
    started = time.monotonic()
    lab.stop_processes(timeout=1)
    took = time.monotonic() - started
    assert Lab._stat(proc.pid) is None, "still there after stop_processes"
    assert 1 <= took < 10, "SIGTERM was ignored, so only SIGKILL after the 1 s grace ends it (took %.1f s)" % took


@pytest.mark.parametrize("entry", [{"started": "1"}, {"argv0": "/no/such/etcd"}], ids=["start-time", "old-state"])
def test_a_recycled_pid_is_never_signalled(tmp_path, entry):
    """An entry whose PID now runs something else (another start time; in a state file from before start times,
    another argv0) is dropped without a signal."""
    lab = Lab(tmp_path / "lab")
    bystander = _spawn(Lab(tmp_path / "other"), tmp_path, "bystander", IGNORES_TERM.replace("SIG_IGN", "SIG_DFL"))
    try:
        lab.save({"clusters": [], "processes": [
            dict({"name": "etcd", "pid": bystander.pid, "cluster": "cluster1", "argv0": sys.executable}, **entry)]})
        assert lab.running() == []
        lab.stop_processes(timeout=1)
        assert bystander.poll() is None
        assert lab.load()["processes"] == []
    finally:
        bystander.kill()
        bystander.wait()


def test_alive_does_not_depend_on_the_command_line(tmp_path, monkeypatch):
    """/proc/<pid>/cmdline can read empty or cut short while a Go binary starts; the start time decides."""
    lab = Lab(tmp_path / "lab")
    _spawn(lab, tmp_path, "sleeper", IGNORES_TERM.replace("SIG_IGN", "SIG_DFL"))
    (entry,) = lab.load()["processes"]
    assert entry["started"] and Lab._alive(entry)
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"" if self.name == "cmdline" else real(self))
    try:
        assert Lab._alive(entry)
        assert lab.running() == [entry]
    finally:
        monkeypatch.undo()
        lab.stop_processes(timeout=1)
    assert not Lab._alive(entry)


@pytest.mark.parametrize("stat, started, expected", [(None, "1", True), (("S", "2"), "1", True),
                                                     (("S", "1"), "1", False)])
def test_released_reads_state_and_start_time(monkeypatch, stat, started, expected):
    monkeypatch.setattr(procs, "stat", lambda pid: stat)
    monkeypatch.setattr("os.listdir", lambda path: ["1"])
    assert procs.released(999999999, started) is expected
    assert Lab._released(999999999, started) is expected  # the name lab.cluster's users know
