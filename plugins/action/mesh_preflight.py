# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check every inventory host's cluster identity together, on the controller, before any step writes, and publish
it: the fact mesh_clusters ({host: identity}) is what roles and modules read, never the raw host variables."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

from ansible.plugins.action import ActionBase
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.identity import IDENTITY_VARS, checked_before, resolve
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import access, reach


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("hosts", "steps", "eastwest"))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec={
            "hosts": {"type": "list", "elements": "str"},
            "steps": {"type": "list", "elements": "str", "default": []},
            "eastwest": {"type": "bool", "default": False}})
        unknown_steps = access.unknown_steps(args["steps"])
        if unknown_steps:
            result.update(failed=True, msg="steps: %s not a step; use some of %s" % (
                ", ".join(unknown_steps), ", ".join(access.ORDER)))
            return result
        hostvars = task_vars.get("hostvars", {})
        names = args.get("hosts")
        if names is None:
            names = task_vars.get("ansible_play_hosts_all") or [task_vars.get("inventory_hostname")]
        unknown = [h for h in names if h not in hostvars]
        if unknown:
            result.update(failed=True, msg="hosts: %s %s not in the inventory" % (
                ", ".join(unknown), "is" if len(unknown) == 1 else "are"))
            return result
        hosts = {}
        for name in names:
            hv = hostvars[name]  # templated on read
            hosts[name] = dict((var, hv.get(var)) for var in IDENTITY_VARS)
        facts = task_vars.get("ansible_facts") or {}
        try:
            clusters = resolve(hosts, os.environ, os.path.expanduser("~"), yaml.safe_load)
            if not args["steps"] and checked_before(clusters, facts.get("mesh_clusters"),
                                                    args["eastwest"] and not facts.get("mesh_eastwest_read")):
                # an earlier preflight of this run (site.yml's first) reached every cluster with this identity
                result.update(changed=False, clusters=[facts["mesh_clusters"][c["host"]] for c in clusters],
                              ansible_facts={"mesh_clusters": facts["mesh_clusters"],
                                             "mesh_eastwest_read": bool(facts.get("mesh_eastwest_read"))})
                return result
            timeout = _timeout(task_vars.get("mesh_api_timeout", reach.DEFAULT_TIMEOUT))
            unreachable = reach.problems(clusters, timeout)
            if unreachable:
                raise MeshError("%d API server%s did not answer, nothing was changed:\n- %s" % (
                    len(unreachable), "" if len(unreachable) == 1 else "s", "\n- ".join(unreachable)),
                    problems=unreachable)
            denied = reach.access_problems(clusters, args["steps"], timeout) if args["steps"] else []
            if denied:
                raise MeshError("%d cluster%s would refuse what the steps (%s) need, nothing was changed:\n- %s" % (
                    len(denied), "" if len(denied) == 1 else "s", ", ".join(args["steps"]), "\n- ".join(denied)),
                    problems=denied)
            unread = reach.eastwest(clusters, timeout) if args["eastwest"] else []
            if unread:
                raise MeshError("%d east-west address%s cannot be read, nothing was changed:\n- %s" % (
                    len(unread), "" if len(unread) == 1 else "es", "\n- ".join(unread)), problems=unread)
        except MeshError as e:
            result.update(failed=True, msg=e.msg, problems=e.details.get("problems", []))
            return result
        for cluster in clusters:
            cluster.pop("kubeconfig")  # the files read: kubeconfig_path is what tasks pass on
        # run_once: Ansible gives the facts of this one run to every host of the play
        result.update(changed=False, clusters=clusters, ansible_facts={
            "mesh_clusters": dict((c["host"], c) for c in clusters), "mesh_eastwest_read": args["eastwest"]})
        return result


def _timeout(value):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1
    if seconds <= 0:
        raise MeshError("mesh_api_timeout=%r: give the seconds to wait for each API server's answer, e.g. 10" % (value,))
    return seconds
