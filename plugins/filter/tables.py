# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters over the collection's tables (plugins/module_utils/distributions.py): distribution, platform,
gateway_product, global_host and global_backend. Their documentation is in the .yml file of each name beside this
one."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ambientmesh.multicluster.plugins.module_utils import distributions
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError


def _entry(lookup, name):
    try:
        return lookup(name)
    except MeshError as e:  # the message names the variable and the choices
        raise AnsibleFilterError(e.msg)


def distribution(name):
    return _entry(distributions.distribution, name)


def platform(name):
    return _entry(distributions.platform, name)


def gateway_product(name, gateway=None):
    entry = _entry(distributions.product, name)
    return entry if gateway is None else entry["proxy_name"] % gateway


def global_host(service, namespace, dist):
    # "" for an unknown distribution: a role's argument spec names it, the filter must not fail first
    return distributions.global_host(service, namespace, dist) if dist in distributions.DISTRIBUTIONS else ""


def global_backend(service, namespace, dist, port):
    return _entry(lambda d: distributions.global_backend(service, namespace, d, int(port)), dist)


class FilterModule(object):
    def filters(self):
        return {"distribution": distribution, "platform": platform, "gateway_product": gateway_product,
                "global_host": global_host, "global_backend": global_backend}
