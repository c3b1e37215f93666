# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failover drill: baseline, disrupt (scale a Deployment to 0 and wait until its ready endpoints are
gone), hold, restore (scale back, wait ready), settle, while a prober measures the target.

Replicas are always restored: in `finally`, and SIGTERM/SIGINT become an exception so `finally` runs. The
original replica count is also written to an annotation before scaling, so a drill killed outright (SIGKILL)
is repaired by the next run or by `restore_only`. The workload is in failover_workload.py, the signal handling
in failover_signals.py, the module entry in failover_check.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import probe
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.failover_signals import DrillInterrupted, Signals
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.failover_workload import (
    ANNOTATION, NotThereYet, Workload)


# ---- input ------------------------------------------------------------------------------------------------

def validate(params):
    """Every bad value named with its fix, before any request or API call."""
    def bad(field, why):
        raise MeshError("%s: %s" % (field, why))

    if params.get("restore_only"):
        if not params.get("deployment"):
            bad("deployment", "restore_only needs the Deployment to restore; set deployment (and namespace)")
        return
    if not params.get("url"):
        bad("url", "required unless restore_only is true; give the address to probe, e.g. "
                   "http://203.0.113.10:8080/productpage")
    probe.parse_url(params["url"])
    rate = params["rate"]
    if not 0 < rate <= 100:
        bad("rate", "%s requests per second is outside (0, 100]; 5 to 20 is typical" % rate)
    if params["request_timeout"] <= 0:
        bad("request_timeout", "must be more than 0 seconds, e.g. 2")
    if params["baseline_seconds"] <= 0:
        bad("baseline_seconds", "must be more than 0: the baseline proves the target works before anything "
                                "is disrupted")
    for field in ("hold_seconds", "settle_seconds"):
        if params[field] < 0:
            bad(field, "must be 0 or more seconds")
    if params["wait_timeout"] <= 0:
        bad("wait_timeout", "must be more than 0 seconds, e.g. 120")
    ratio = params.get("min_success_ratio")
    if ratio is not None and not 0 <= ratio <= 1:
        bad("min_success_ratio", "%s is outside 0..1; give a fraction such as 0.99" % ratio)
    recovery = params.get("max_recovery_seconds")
    if recovery is not None and recovery < 0:
        bad("max_recovery_seconds", "%s is negative; give the seconds the target may fail for, e.g. 10" % recovery)
    codes = params["expected_status"]
    if not codes or any(not 100 <= c <= 599 for c in codes):
        bad("expected_status", "%s must be a non-empty list of HTTP status codes (100-599), e.g. [200]" % codes)
    if params.get("in_mesh") and params["rate"] > 20:
        bad("rate", "in-mesh probing starts one curl per request inside the pod; keep rate at 20 or less")


# ---- the drill ---------------------------------------------------------------------------------------------

def state_view(obj):
    """What the drill may change on the Deployment, as --diff shows it."""
    return {"replicas": obj["spec"].get("replicas", 1),
            "annotations": {ANNOTATION: (obj["metadata"].get("annotations") or {}).get(ANNOTATION)}}


def drill_seconds(params):
    """The longest the probing can take: every phase plus both waits (bounds the in-mesh curl loop)."""
    return (params["baseline_seconds"] + params["hold_seconds"] + params["settle_seconds"]
            + 2 * params["wait_timeout"] + 30)


class Drill:
    """One run of failover_check. `make_prober(recorder)` returns an object with start()/stop() (and an
    optional `error`); `preflight()` returns (outcome, cluster) of one request, or None when not possible."""

    def __init__(self, kube, params, check_mode=False, warn=None, make_prober=None, preflight=None):
        self.kube = kube
        self.params = params
        self.check_mode = check_mode
        self.warn = warn or (lambda msg: None)
        self.make_prober = make_prober
        self.preflight = preflight
        self.expected = tuple(params["expected_status"])
        self.workload = Workload(kube, params["namespace"], params["deployment"]) if params.get("deployment") else None
        self.notes = []
        self.changed = False
        self.original = None
        self.before = self.after = None

    # -- repair of a drill that was killed outright ------------------------------------------------------
    def _repair(self):
        left = self.workload.recorded
        if left is None:
            return
        self.changed = True
        msg = ("Deployment %s/%s carries %s=%d from a drill that did not finish"
               % (self.workload.namespace, self.workload.name, ANNOTATION, left))
        if self.check_mode:
            self.notes.append(msg + "; would restore it to %d replicas" % left)
            return
        self.warn(msg + "; restoring it to %d replicas first" % left)
        self.workload.restore(left, self.params["wait_timeout"])
        self.workload.read()

    def run(self):
        validate(self.params)
        try:
            return self._run()
        except DrillInterrupted as e:
            where = ""
            if self.workload and self.workload.obj:
                where = "; Deployment %s/%s now has %s replicas (%s before the drill)" % (
                    self.workload.namespace, self.workload.name, self.workload.read()["spec"].get("replicas"),
                    self.original)
            raise MeshError("failover drill interrupted by %s%s" % (e.name, where), notes=self.notes)

    def _run(self):
        if self.workload and self.params.get("restore_only") and not self.workload.exists():
            return {"changed": False, "notes": ["Deployment %s/%s does not exist; nothing to restore"
                                                % (self.workload.namespace, self.workload.name)], "diff": {}}
        if self.workload:
            self.before = state_view(self.workload.read())
            recorded = self.workload.recorded
            self.original = recorded if recorded is not None else self.workload.replicas
            if not self.params.get("restore_only") and not self.original:
                raise MeshError("deployment: Deployment %s/%s has 0 replicas, so there is nothing to disrupt; scale "
                                "it up first (nothing was scaled)" % (self.workload.namespace, self.workload.name))
            if not self.workload.services:
                self.warn("no Service in namespace %s selects the pods of Deployment %s; the drill waits for "
                          "ready replicas only" % (self.workload.namespace, self.workload.name))
            with Signals() as signals:
                self._repair_protected(signals)
        result = {"changed": False}
        if not self.params.get("restore_only"):
            result.update(self._measure())
        if self.workload:
            if not self.check_mode:
                self.after = state_view(self.workload.read())
                self.changed = self.changed or self.after != self.before
            elif self.changed:
                self.after = {"replicas": self.original, "annotations": {ANNOTATION: None}}
            else:
                self.after = self.before
            result["deployment"] = {"namespace": self.workload.namespace, "name": self.workload.name,
                                    "services": self.workload.services, "original_replicas": self.original,
                                    "replicas": self.after["replicas"]}
            result["diff"] = {"before": self.before, "after": self.after}
        result["changed"] = self.changed
        result["notes"] = self.notes
        return result

    def _repair_protected(self, signals):
        signals.deferred = True
        try:
            self._repair()
        finally:
            signals.deferred = False
        if signals.pending:
            raise DrillInterrupted(signals.pending)

    def _check_reachable(self):
        if self.preflight is None:
            return
        outcome, _cluster = self.preflight()
        if outcome in (probe.TIMEOUT, probe.REFUSED, probe.ERROR):
            raise NotThereYet("url: %s is unreachable from the controller (%s); check the address, port and that "
                              "the ingress is up (nothing was scaled)"
                              % (self.params["url"], outcome.replace("_", " ")))

    def _measure(self):
        p = self.params
        self._check_reachable()
        recorder = probe.Recorder()
        prober = self.make_prober(recorder)
        scaled = restored = False
        timings = {}
        with Signals() as signals:
            try:
                recorder.mark("baseline")
                prober.start()
                time.sleep(p["baseline_seconds"])
                self._check_baseline(recorder)
                if self.workload and self.check_mode:
                    self.notes.append("check mode: would scale Deployment %s/%s from %d to 0 replicas and back"
                                      % (self.workload.namespace, self.workload.name, self.original))
                elif self.workload:
                    pods = set(x["metadata"]["name"] for x in self.workload.pods())
                    recorder.mark("disrupt")
                    start = time.monotonic()
                    self.workload.annotate(self.original)
                    scaled = True
                    self.workload.scale(0)
                    self.workload.wait_gone(pods, p["wait_timeout"])
                    timings["endpoints_gone_seconds"] = round(time.monotonic() - start, 3)
                    recorder.mark("hold")
                    time.sleep(p["hold_seconds"])
                    recorder.mark("restore")
                    start = time.monotonic()
                    self.workload.restore(self.original, p["wait_timeout"])
                    restored = True
                    timings["restore_seconds"] = round(time.monotonic() - start, 3)
                    recorder.mark("settle")
                    time.sleep(p["settle_seconds"])
            finally:
                signals.deferred = True
                try:
                    if scaled and not restored:
                        self._emergency_restore(recorder)
                finally:
                    end = prober.stop()
                    signals.deferred = False
            if signals.pending:
                raise DrillInterrupted(signals.pending)
        return self._figures(recorder, end, timings, getattr(prober, "error", None))

    def _emergency_restore(self, recorder):
        """Scale back after a failure or an interrupt; its own failure is reported, not swallowed."""
        recorder.mark("restore")
        try:
            self.workload.restore(self.original, self.params["wait_timeout"])
        except MeshError as e:
            raise MeshError("could not restore Deployment %s/%s to %d replicas after the drill stopped: %s; annotation "
                            "%s keeps the count, rerun with restore_only=true"
                            % (self.workload.namespace, self.workload.name, self.original, e.msg, ANNOTATION))
        self.notes.append("restored Deployment %s/%s to %d replicas after the drill stopped early"
                          % (self.workload.namespace, self.workload.name, self.original))

    def _check_baseline(self, recorder):
        samples, marks = recorder.snapshot()
        base = probe.summarize(samples, self.expected)
        floor = self.params.get("min_success_ratio")
        if not base["successes"] or (floor is not None and base["success_ratio"] < floor):
            raise NotThereYet("baseline: the target is unhealthy before anything was disrupted (%s); nothing was "
                              "scaled" % probe.describe(base), baseline=base, timeline=samples)

    def _figures(self, recorder, end, timings, prober_error):
        p = self.params
        samples, marks = recorder.snapshot()
        report = probe.phase_report(samples, marks, end, self.expected)
        problems = probe.check_thresholds(report["overall"], p.get("min_success_ratio"), p.get("max_recovery_seconds"))
        problems += probe.attribution_problems(report["overall"], p.get("cluster_header"))
        if prober_error:
            problems.append(prober_error)
        lines = ["%s: %s" % (ph["name"], probe.describe(ph)) for ph in report["phases"]]
        lines.append("overall: " + probe.describe(report["overall"]))
        verdict = "FAILED: " + "; ".join(problems) if problems else "passed"
        summary = "failover check %s against %s\n%s" % (verdict, p["url"], "\n".join(lines))
        result = dict(report, timeline=samples, timings=timings, passed=not problems, problems=problems,
                      summary=summary, url=p["url"],
                      thresholds={"min_success_ratio": p.get("min_success_ratio"),
                                  "max_recovery_seconds": p.get("max_recovery_seconds"),
                                  "expected_status": list(self.expected)})
        if problems and p["fail_on_threshold"]:
            if self.workload and not self.check_mode:
                result["deployment_replicas"] = self.workload.read()["spec"].get("replicas")
            raise MeshError(summary, **result)
        return result
