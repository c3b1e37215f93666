"""The drill's control flow against an in-memory cluster: phases, restore on failure and on signals, repair,
check mode, and bad input refused before anything is scaled."""

import os
import signal
import threading
import time

import pytest

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import (
    failover, failover_check, failover_workload, probe)
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


class FakeKube:
    """One Deployment (productpage-v1) whose pods and endpoints follow spec.replicas after `delay` seconds."""

    def __init__(self, replicas=1, delay=0.1, annotations=None, drains=True, services=True):
        self.replicas = self.ready = replicas
        self.delay = delay
        self.drains = drains
        self.services = services
        self.annotations = dict(annotations or {})
        self.changed_at = None
        self.generation = 0
        self.scales = []
        self.patches = []
        self.on_scale = self.on_drained = None

    def _settle(self):
        if self.changed_at is not None and time.monotonic() - self.changed_at >= self.delay:
            if self.replicas or self.drains:
                self.generation += self.ready != self.replicas
                self.ready = self.replicas
            self.changed_at = None
            if not self.ready and self.on_drained:
                self.on_drained()

    def _pods(self):
        self._settle()
        return [{"metadata": {"name": "productpage-v1-%d-%d" % (self.generation, i), "labels": {"app": "productpage"}},
                 "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
                for i in range(self.ready)]

    def get(self, api_version, kind, name, namespace=None):
        assert kind == "Deployment" and namespace == "bookinfo"
        if name != "productpage-v1":
            return None
        self._settle()
        return {"metadata": {"name": name, "namespace": namespace, "annotations": dict(self.annotations)},
                "spec": {"replicas": self.replicas, "selector": {"matchLabels": {"app": "productpage"}},
                         "template": {"metadata": {"labels": {"app": "productpage", "version": "v1"}}}},
                "status": {"readyReplicas": self.ready or None, "updatedReplicas": self.ready or None}}

    def list(self, api_version, kind, namespace=None, label_selector=None):
        if kind == "Service":
            return [{"metadata": {"name": "productpage"}, "spec": {"selector": {"app": "productpage"}}},
                    {"metadata": {"name": "reviews"}, "spec": {"selector": {"app": "reviews"}}}] if self.services else []
        if kind == "Pod":
            assert label_selector == "app=productpage"
            return self._pods()
        if kind == "EndpointSlice":
            assert label_selector == "kubernetes.io/service-name in (productpage)"
            return [{"endpoints": [{"targetRef": {"kind": "Pod", "name": p["metadata"]["name"]},
                                    "conditions": {"ready": True}} for p in self._pods()]}]
        raise AssertionError(kind)

    def patch(self, api_version, kind, name, body, namespace=None, subresource=None):
        self.patches.append((kind, subresource, body))
        if subresource == "scale":
            self.replicas = body["spec"]["replicas"]
            self.scales.append(self.replicas)
            self.changed_at = time.monotonic()
            if self.on_scale:
                self.on_scale(self.replicas)
        else:
            for k, v in body["metadata"]["annotations"].items():
                if v is None:
                    self.annotations.pop(k, None)
                else:
                    self.annotations[k] = v


def params(**over):
    p = dict(url="http://ingress.invalid/productpage", host_header=None, cluster_header=None, expected_status=[200],
             rate=40.0, request_timeout=1.0, namespace="bookinfo", deployment="productpage-v1", baseline_seconds=0.3,
             hold_seconds=0.3, settle_seconds=0.3, wait_timeout=5.0, min_success_ratio=None,
             max_recovery_seconds=None, fail_on_threshold=True, restore_only=False, in_mesh=None)
    p.update(over)
    return p


def no_failover_target(kube):
    """What an ingress without a second cluster answers: 503 while no replica is ready."""
    return lambda: (200, "cluster1") if kube.ready else (503, None)


def failover_target(kube):
    return lambda: (200, "cluster1") if kube.ready else (200, "cluster2")


def drill(kube, p, target, check_mode=False, warnings=None):
    return failover.Drill(kube, p, check_mode, (warnings if warnings is not None else []).append,
                          lambda rec: probe.Prober(target, p["rate"], rec, p["request_timeout"]), target)


def test_drill_phases_scale_down_and_back():
    kube = FakeKube(replicas=2)
    result = drill(kube, params(), failover_target(kube)).run()
    assert kube.scales == [0, 2] and kube.replicas == 2 and kube.annotations == {}
    assert [ph["name"] for ph in result["phases"]] == ["baseline", "disrupt", "hold", "restore", "settle"]
    hold = result["phases"][2]
    assert hold["clusters"] == {"cluster2": hold["requests"]} and hold["requests"] >= 8
    assert result["phases"][0]["clusters"] == {"cluster1": result["phases"][0]["requests"]}
    assert result["overall"]["success_ratio"] == 1.0 and result["passed"] is True
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"] == {
        "replicas": 2, "annotations": {failover.ANNOTATION: None}}
    assert result["deployment"] == {"namespace": "bookinfo", "name": "productpage-v1", "services": ["productpage"],
                                    "original_replicas": 2, "replicas": 2}
    assert 0.1 <= result["timings"]["endpoints_gone_seconds"] < 1.0
    assert 0.1 <= result["timings"]["restore_seconds"] < 1.0
    # the annotation was written before scaling and removed after the restore
    kinds = [(k, sub, body.get("metadata", {}).get("annotations")) for k, sub, body in kube.patches]
    assert kinds[0] == ("Deployment", None, {failover.ANNOTATION: "2"})
    assert kinds[-1] == ("Deployment", None, {failover.ANNOTATION: None})


def test_failed_thresholds_fail_with_summary_and_replicas_restored():
    kube = FakeKube()
    with pytest.raises(MeshError) as err:
        drill(kube, params(min_success_ratio=0.99, max_recovery_seconds=0.05), no_failover_target(kube)).run()
    assert kube.scales == [0, 1] and kube.annotations == {}
    msg = err.value.msg
    assert msg.startswith("failover check FAILED: success ratio")
    assert "exceeds max_recovery_seconds 0.05" in msg
    for phase in ("baseline:", "disrupt:", "hold:", "restore:", "settle:", "overall:"):
        assert "\n" + phase in msg
    details = err.value.details
    assert details["passed"] is False and details["overall"]["status_codes"]["503"] >= 10
    assert details["deployment_replicas"] == 1


def test_thresholds_reported_without_failing_when_asked():
    kube = FakeKube()
    result = drill(kube, params(min_success_ratio=0.99, fail_on_threshold=False), no_failover_target(kube)).run()
    assert result["passed"] is False and "below min_success_ratio" in result["problems"][0]
    assert kube.replicas == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_hold_restores_then_fails(signum):
    kube = FakeKube()
    timer = threading.Timer(0.6, os.kill, (os.getpid(), signum))
    timer.start()
    try:
        with pytest.raises(MeshError) as err:
            drill(kube, params(hold_seconds=30), failover_target(kube)).run()
    finally:
        timer.cancel()
    assert kube.scales == [0, 1] and kube.annotations == {}
    name = signal.Signals(signum).name
    assert err.value.msg == ("failover drill interrupted by %s; Deployment bookinfo/productpage-v1 now has 1 "
                             "replicas (1 before the drill)" % name)
    assert "restored Deployment bookinfo/productpage-v1 to 1 replicas" in err.value.details["notes"][0]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signal_during_restore_waits_for_the_restore():
    """SIGTERM once the replicas are gone, and again right after the scale-up request of the restore: the
    second one is noted, not obeyed, so the restore still waits until the replica is ready again."""
    kube = FakeKube(delay=0.3)
    kube.on_scale = lambda replicas: replicas and os.kill(os.getpid(), signal.SIGTERM)
    kube.on_drained = lambda: os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(MeshError) as err:
        drill(kube, params(hold_seconds=30), failover_target(kube)).run()
    assert "interrupted by SIGTERM" in err.value.msg
    assert kube.scales == [0, 1] and kube.ready == 1 and kube.annotations == {}


def test_wait_timeout_restores_and_names_the_wait():
    kube = FakeKube(drains=False)
    with pytest.raises(MeshError) as err:
        drill(kube, params(wait_timeout=0.5), failover_target(kube)).run()
    assert "its ready endpoints going away did not happen within wait_timeout 0.5s" in err.value.msg
    assert kube.scales == [0, 1] and kube.annotations == {}


def test_leftover_from_killed_drill_is_repaired_first():
    kube = FakeKube(replicas=0, annotations={failover.ANNOTATION: "3"})
    warnings = []
    result = drill(kube, params(restore_only=True), None, warnings=warnings).run()
    assert kube.scales == [3] and kube.ready == 3 and kube.annotations == {}
    assert result["changed"] is True
    assert result["diff"] == {"before": {"replicas": 0, "annotations": {failover.ANNOTATION: "3"}},
                              "after": {"replicas": 3, "annotations": {failover.ANNOTATION: None}}}
    assert "from a drill that did not finish" in warnings[0]
    again = drill(kube, params(restore_only=True), None).run()
    assert again["changed"] is False and kube.scales == [3]


def test_restore_only_without_the_deployment_is_a_no_op():
    kube = FakeKube()
    result = drill(kube, params(restore_only=True, deployment="gone"), None).run()
    assert result["changed"] is False and kube.patches == []
    assert result["notes"] == ["Deployment bookinfo/gone does not exist; nothing to restore"]


def test_leftover_in_check_mode_is_predicted_not_touched():
    kube = FakeKube(replicas=0, annotations={failover.ANNOTATION: "1"})
    result = drill(kube, params(restore_only=True), None, check_mode=True).run()
    assert kube.patches == [] and result["changed"] is True
    assert result["diff"]["after"] == {"replicas": 1, "annotations": {failover.ANNOTATION: None}}
    assert "would restore it to 1 replicas" in result["notes"][0]


def test_check_mode_probes_but_never_scales():
    kube = FakeKube()
    result = drill(kube, params(), failover_target(kube), check_mode=True).run()
    assert kube.patches == []
    assert [ph["name"] for ph in result["phases"]] == ["baseline"]
    assert result["overall"]["requests"] >= 8 and result["changed"] is False
    assert result["notes"] == ["check mode: would scale Deployment bookinfo/productpage-v1 from 1 to 0 replicas "
                               "and back"]


def test_probe_only_without_deployment():
    result = drill(None, params(deployment=None, baseline_seconds=0.5), lambda: (200, "cluster1")).run()
    assert [ph["name"] for ph in result["phases"]] == ["baseline"]
    assert 18 <= result["overall"]["requests"] <= 22 and "deployment" not in result


def test_unknown_deployment_fails_before_anything():
    kube = FakeKube()
    with pytest.raises(MeshError) as err:
        drill(kube, params(deployment="nope"), failover_target(kube)).run()
    assert err.value.msg.startswith("deployment: Deployment nope not found in namespace bookinfo")
    assert kube.patches == []


def test_zero_replicas_is_refused():
    kube = FakeKube(replicas=0)
    with pytest.raises(MeshError, match="^deployment: .* has 0 replicas"):
        drill(kube, params(), failover_target(kube)).run()
    assert kube.patches == []


def test_unreachable_target_fails_before_scaling():
    kube = FakeKube()
    with pytest.raises(MeshError) as err:
        drill(kube, params(), lambda: (probe.REFUSED, None)).run()
    assert err.value.msg.startswith("url: http://ingress.invalid/productpage is unreachable from the controller "
                                    "(connection refused)")
    assert kube.patches == []


def test_unhealthy_baseline_fails_before_scaling():
    kube = FakeKube()
    answers = iter([200] + [503] * 1000)
    with pytest.raises(MeshError) as err:
        drill(kube, params(min_success_ratio=0.9), lambda: (next(answers), None)).run()
    assert err.value.msg.startswith("baseline: the target is unhealthy before anything was disrupted")
    assert kube.patches == []


def test_no_service_warns():
    kube = FakeKube(services=False)
    warnings = []
    drill(kube, params(), failover_target(kube), warnings=warnings).run()
    assert "no Service in namespace bookinfo selects the pods" in warnings[0]
    assert kube.scales == [0, 1]


@pytest.mark.parametrize("over,field", [
    (dict(rate=0), "rate"), (dict(rate=500), "rate"), (dict(request_timeout=0), "request_timeout"),
    (dict(baseline_seconds=0), "baseline_seconds"), (dict(hold_seconds=-1), "hold_seconds"),
    (dict(wait_timeout=0), "wait_timeout"), (dict(min_success_ratio=1.5), "min_success_ratio"),
    (dict(max_recovery_seconds=-2), "max_recovery_seconds"), (dict(expected_status=[42]), "expected_status"),
    (dict(expected_status=[]), "expected_status"), (dict(url=None), "url"), (dict(url="tcp://x"), "url"),
    (dict(restore_only=True, deployment=None), "deployment"),
    (dict(in_mesh={"namespace": "bookinfo"}, rate=50), "rate"),
])
def test_bad_input_names_the_field(over, field):
    with pytest.raises(MeshError) as err:
        failover.validate(params(**over))
    assert err.value.msg.startswith(field + ": ")


def test_selector_string_and_service_matching():
    sel = {"matchLabels": {"b": "2", "a": "1"},
           "matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]},
                                {"key": "u", "operator": "NotIn", "values": ["z"]},
                                {"key": "e", "operator": "Exists"}, {"key": "d", "operator": "DoesNotExist"}]}
    assert failover_workload.selector_string(sel) == "a=1,b=2,t in (x,y),u notin (z),e,!d"
    assert failover_workload.selects({"spec": {"selector": {"app": "p"}}}, {"app": "p", "version": "v1"})
    assert not failover_workload.selects({"spec": {"selector": {}}}, {"app": "p"})
    assert not failover_workload.selects({"spec": {"selector": {"app": "q"}}}, {"app": "p"})


def test_ready_endpoint_pods_ignores_not_ready_and_non_pods():
    slices = [{"endpoints": [{"targetRef": {"kind": "Pod", "name": "a"}, "conditions": {"ready": True}},
                             {"targetRef": {"kind": "Pod", "name": "b"}, "conditions": {"ready": False}},
                             {"targetRef": {"kind": "Node", "name": "c"}, "conditions": {"ready": True}},
                             {"conditions": {"ready": True}}]}, {"endpoints": None}]
    assert failover_workload.ready_endpoint_pods(slices) == {"a"}


def test_check_mode_skips_a_deployment_that_is_not_there_yet():
    kube = FakeKube()
    warnings = []
    result = failover_check.check(kube, params(deployment="nope"), True, warnings.append)
    assert result["skipped"] and not result["changed"] and "Deployment nope not found" in result["msg"]
    assert warnings == [result["msg"]] and kube.patches == []
    with pytest.raises(MeshError, match="Deployment nope not found"):
        failover_check.check(kube, params(deployment="nope"), False, warnings.append)


def test_a_cluster_header_no_answer_carries_fails_the_drill_instead_of_passing_unproven():
    kube = FakeKube(replicas=2)
    # the header the backend sets is not the one asked for: every answer is a 200 with no cluster
    result = drill(kube, params(cluster_header="x-cluster-typo", fail_on_threshold=False), lambda: (200, None)).run()
    assert kube.replicas == 2 and result["overall"]["success_ratio"] == 1.0
    assert result["passed"] is False and result["problems"] == [
        "none of the %d successful answers carried header x-cluster-typo, so which cluster answered is not shown: "
        "set cluster_header (verify_cluster_header) to the header the backend sets, or leave it empty to not ask"
        % result["overall"]["successes"]]
    # answers that name their cluster pass; without a header nothing is asked
    assert drill(FakeKube(replicas=2), params(cluster_header="x-c"), failover_target(FakeKube())).run()["passed"]
    assert drill(FakeKube(replicas=2), params(), lambda: (200, None)).run()["passed"]
