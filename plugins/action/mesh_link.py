# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mesh_link runs on the controller, in the worker Ansible forks for each host, like mesh_preflight (which already
reaches every cluster from there). The strategy loads this class in its own process before it forks the workers,
so the kubernetes client imported below is imported once per run, not once per cluster; the per-host result,
`changed` and diff stay each cluster's own (docs/benchmarks.md)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import mesh_link
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError

try:
    # imported here, in the strategy's process, for the reason in the docstring
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as _k8s_client  # noqa: F401
    import kubernetes  # noqa: F401  pylint: disable=unused-import
    MISSING = None
except ImportError as e:
    MISSING = e


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if MISSING is not None:
            result.update(failed=True, msg="mesh_link runs on the controller and needs the kubernetes Python library "
                                           "there (requirements.txt): %s" % MISSING)
            return result
        validated, params = self.validate_argument_spec(argument_spec=mesh_link.argument_spec())
        hidden = set(validated._no_log_values)  # pylint: disable=protected-access
        warnings = []
        try:
            result.update(mesh_link.run(params, check_mode=bool(self._task.check_mode), want_diff=bool(self._task.diff),
                                        warn=warnings.append, hide=hidden.add))
        except MeshError as e:
            result.update(e.details, failed=True, msg=e.msg)
        except Exception as e:  # pylint: disable=broad-except
            result.update(failed=True, msg="%s: %s" % (type(e).__name__, e), exception=traceback.format_exc())
        if warnings:
            result["warnings"] = result.get("warnings", []) + warnings
        # what a module's exit_json does with its no_log values: a token or kubeconfig shown nowhere
        return remove_values(result, hidden)
