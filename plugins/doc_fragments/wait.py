# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The wait options; their argument spec is module_utils.wait.argument_spec(). Each module's description says
    # what it waits for.
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - After applying, wait until the change is in effect, as the module's description says (skipped in check mode).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds each wait may take before the module fails; the error says what it was still waiting for.
    type: float
    default: 120
"""

    # Modules that always wait (ambientmesh.multicluster.wait.timeout): only the timeout.
    TIMEOUT = r"""
options:
  wait_timeout:
    description:
      - Seconds each wait may take before the module fails; the error says what it was still waiting for.
    type: float
    default: 120
"""
