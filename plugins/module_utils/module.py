# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Module scaffolding: build the AnsibleModule with the shared auth options and turn MeshError into fail_json."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.client import auth_argument_spec
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule


class MeshModule(AnsibleK8SModule):
    """kubernetes.core's AnsibleK8SModule plus the AnsibleModule service our module_utils use."""

    def atomic_move(self, src, dest, **kwargs):
        """AnsibleModule.atomic_move (module_utils.atomic_write writes every file through it)."""
        return self._module.atomic_move(src, dest, **kwargs)


def cluster_module(argument_spec, with_auth=True, **kwargs):
    """A MeshModule whose spec is the module's own options plus kubernetes.core's auth options."""
    spec = auth_argument_spec() if with_auth else {}
    spec.update(argument_spec)
    kwargs.setdefault("supports_check_mode", True)
    return MeshModule(argument_spec=spec, check_k8s=with_auth, check_pyyaml=False, **kwargs)


def run(module, handler):
    """Call handler(module) -> result dict and exit; a MeshError fails the task with its message and details."""
    try:
        result = handler(module)
    except MeshError as e:
        module.fail_json(msg=e.msg, **e.details)
    except Exception as e:  # pylint: disable=broad-except
        module.fail_json(msg="%s: %s" % (type(e).__name__, e), exception=traceback.format_exc())
    module.exit_json(**result)
