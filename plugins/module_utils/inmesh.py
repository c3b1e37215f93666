# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""In-mesh probing as the guide does it with `kubectl debug`: an ephemeral container with curl in a mesh
workload (the `ratings` pod) requests the target in a loop; the controller follows its log and records one
sample per line. Ephemeral containers cannot be removed from a pod, so the loop ends on its own deadline."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex
import threading

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError, api_error
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.probe import ERROR, REFUSED, TIMEOUT
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import wait

# Starts curl's -w format, which must not start with "@" (curl would read the format from that file).
LINE_TAG = "ambientmesh-probe"
END_TAG = "ambientmesh-probe-end"
# curl exit codes: 7 could not connect, 28 operation timed out.
CURL_OUTCOMES = {7: REFUSED, 28: TIMEOUT}


def curl_script(url, rate, seconds, timeout, host_header=None, cluster_header=None):
    """A POSIX sh loop starting one curl every 1/rate s (in the background, so a slow answer does not slow
    the schedule) for `seconds`, one tagged line per request: code, time_total, exit code, cluster."""
    write_out = LINE_TAG + " %{http_code} %{time_total} %{exitcode}"
    if cluster_header:
        write_out += " %header{" + cluster_header + "}"
    curl = ["curl", "-s", "-o", "/dev/null", "--max-time", "%g" % timeout, "-w", write_out + "\\n"]
    if host_header:
        curl += ["-H", "Host: " + host_header]
    curl.append(url)
    return ("end=$(( $(date +%%s) + %d )); while [ \"$(date +%%s)\" -lt \"$end\" ]; do %s & sleep %g; done; "
            "wait; echo %s" % (int(seconds), " ".join(shlex.quote(c) for c in curl), 1.0 / rate, END_TAG))


def debug_container(name, image, script):
    """The ephemeral container spec (what `kubectl debug -i --image=... -- sh -c ...` adds)."""
    return {"name": name, "image": image, "command": ["sh", "-c", script], "stdin": False, "tty": False,
            "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}


def parse_line(line):
    """(outcome, latency seconds, cluster) for a tagged line; None for anything else (curl's own noise)."""
    fields = line.strip().split(None, 4)
    if len(fields) < 4 or fields[0] != LINE_TAG:
        return None
    try:
        code, latency, exit_code = int(fields[1]), float(fields[2]), int(fields[3])
    except ValueError:
        return None
    cluster = fields[4].strip() if len(fields) > 4 else None
    outcome = code if code else CURL_OUTCOMES.get(exit_code, ERROR)
    return outcome, latency, cluster or None


def pick_pod(pods):
    """The first Running and Ready pod by name, or None."""
    def ready(pod):
        status = pod.get("status") or {}
        return status.get("phase") == "Running" and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    candidates = sorted((p for p in pods if ready(p)), key=lambda p: p["metadata"]["name"])
    return candidates[0] if candidates else None


def container_state(pod, name):
    """'running', 'terminated', ('waiting', reason) or None for the named ephemeral container."""
    for status in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
        if status.get("name") == name:
            state = status.get("state") or {}
            if "running" in state:
                return "running"
            if "terminated" in state:
                return "terminated"
            if "waiting" in state:
                return "waiting", (state["waiting"] or {}).get("reason")
    return None


class PodProber:
    """Runs curl_script in an ephemeral container of `pod` and feeds its lines into a Recorder."""

    def __init__(self, kube, namespace, pod, container, image, script, recorder, start_timeout=120):
        self.kube = kube
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.image = image
        self.script = script
        self.recorder = recorder
        self.start_timeout = start_timeout
        self._response = None
        self._thread = None
        self._closing = False
        self.error = None

    def start(self):
        self._add_container()
        self._wait_started()
        from kubernetes.client import CoreV1Api

        api = CoreV1Api(self.kube.api_client)
        self._response = api.read_namespaced_pod_log(self.pod, self.namespace, container=self.container,
                                                     follow=True, _preload_content=False)
        self._thread = threading.Thread(target=self._follow, name="inmesh-log", daemon=True)
        self._thread.start()

    def _add_container(self):
        body = {"spec": {"ephemeralContainers": [debug_container(self.container, self.image, self.script)]}}
        verb = "add ephemeral container %s to" % self.container
        try:
            self.kube.patch("v1", "Pod", self.pod, body, self.namespace, subresource="ephemeralcontainers",
                            content_type="application/strategic-merge-patch+json", verb=verb)
        except MeshError:
            raise
        except Exception as e:  # pylint: disable=broad-except  # urllib3 connection errors and the like
            raise api_error(verb, "Pod", self.pod, e, self.namespace)

    def _wait_started(self):
        def timed_out(state):
            raise MeshError("in-mesh probe: ephemeral container %s in pod %s/%s did not start within %ss (state: %s); "
                            "check that in_mesh.image can be pulled in that cluster and that the cluster allows "
                            "ephemeral containers" % (self.container, self.namespace, self.pod, self.start_timeout,
                                                      state or "not reported"))

        wait.until(lambda: container_state(self.kube.get("v1", "Pod", self.pod, self.namespace) or {}, self.container),
                   self.start_timeout, 0.5, done=lambda state: state in ("running", "terminated"), on_timeout=timed_out)

    def _follow(self):
        buf = b""
        try:
            for chunk in self._response.stream(1024):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode("utf-8", "replace")
                    if text.strip() == END_TAG:
                        return
                    parsed = parse_line(text)
                    if parsed:
                        outcome, latency, cluster = parsed
                        received = self.recorder.now()
                        self.recorder.add(max(0.0, received - latency), outcome, latency, cluster)
        except Exception as e:  # pylint: disable=broad-except
            if not self._closing:
                self.error = "the log of ephemeral container %s ended early: %s" % (self.container, e)

    def stop(self):
        """Stop following the log; returns the time it stopped (after every sample)."""
        self._closing = True
        if self._response is not None:
            self._response.close()
        if self._thread is not None:
            self._thread.join(5)
        return self.recorder.now()
