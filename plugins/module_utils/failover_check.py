# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The failover_check module: pick the transport (HTTP from the controller, or curl in an ephemeral container of a
mesh pod), run the Drill, and shape --diff; in check mode a target that is not there yet is a skip."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import inmesh, probe
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.failover import Drill, drill_seconds, validate
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.failover_workload import NotThereYet


def _in_mesh_pod(kube, opts):
    pods = kube.list("v1", "Pod", opts["namespace"], label_selector=opts["label_selector"])
    pod = inmesh.pick_pod(pods)
    if pod is None:
        raise NotThereYet("in_mesh.label_selector: no Running and Ready pod matches %r in namespace %s; give the "
                          "selector of a mesh workload (the guide uses app=ratings in bookinfo)"
                          % (opts["label_selector"], opts["namespace"]))
    return pod


def check(kube, params, check_mode=False, warn=None):
    """failover_check: pick the transport (controller HTTP or in-mesh pod), run the Drill, shape --diff.

    In check mode a target that is not there yet (a dry run of a whole play on empty clusters) skips the check
    with a warning; outside check mode it fails.
    """
    validate(params)
    try:
        return _check(kube, params, check_mode, warn)
    except NotThereYet as e:
        if not check_mode:
            raise
        msg = "check mode: %s; a real run fails here unless an earlier step creates it" % e.msg
        if warn:
            warn(msg)
        return {"changed": False, "skipped": True, "msg": msg}


def _check(kube, params, check_mode, warn):
    opts = params.get("in_mesh")
    pod = probe_diff = None
    if opts and not params.get("restore_only"):
        pod = _in_mesh_pod(kube, opts)
        name = "ambientmesh-probe-" + uuid.uuid4().hex[:8]
        existing = [c["name"] for c in pod["spec"].get("ephemeralContainers") or []]
        probe_diff = ({"pod": pod["metadata"]["name"], "ephemeralContainers": existing},
                      {"pod": pod["metadata"]["name"], "ephemeralContainers": existing + [name]})
        script = inmesh.curl_script(params["url"], params["rate"], drill_seconds(params), params["request_timeout"],
                                    params.get("host_header"), params.get("cluster_header"))

        def make_prober(recorder):
            return inmesh.PodProber(kube, opts["namespace"], pod["metadata"]["name"], name, opts["image"], script,
                                    recorder, opts["start_timeout"])
        preflight = None
    else:
        target = probe.HttpTarget(params["url"], params.get("host_header"), params.get("cluster_header"),
                                  params["request_timeout"]) if not params.get("restore_only") else None

        def make_prober(recorder):
            return probe.Prober(target, params["rate"], recorder, params["request_timeout"])
        preflight = target

    if pod is not None and check_mode:
        # Adding the ephemeral container is the change; in check mode there is nothing to probe from.
        drill = Drill(kube, dict(params, restore_only=True), check_mode, warn)
        result = drill.run() if params.get("deployment") else {"changed": False, "notes": []}
        result["notes"].append("check mode: would add ephemeral container %s (%s) to pod %s/%s and probe %s"
                               % (probe_diff[1]["ephemeralContainers"][-1], opts["image"], opts["namespace"],
                                  pod["metadata"]["name"], params["url"]))
    else:
        result = Drill(kube, params, check_mode, warn, make_prober, preflight).run()
    before, after = {}, {}
    if "diff" in result:
        before["deployment"], after["deployment"] = result["diff"]["before"], result["diff"]["after"]
    if probe_diff:
        before["probe_pod"], after["probe_pod"] = probe_diff
        result["changed"] = True
        result["probe_pod"] = probe_diff[1]
    result["diff"] = {"before": before, "after": after}
    return result
