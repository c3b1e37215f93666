# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubeconfig files parsed with libyaml.

kubernetes.config parses the whole kubeconfig file for every client it makes, with PyYAML's pure-Python loader. A
kubeconfig of 32 clusters (64 KB of mostly base64 certificates) takes 0.08-0.15 s to parse that way and 0.004 s with
libyaml's loader, which builds the same objects. Every step makes one client per cluster from the same file, so the
pure-Python parse grows with clusters x kubeconfig size (docs/benchmarks.md). use_libyaml() gives kubernetes.config
the libyaml loader; everything else (merging KUBECONFIG's files, contexts, relative paths, exec plugins) stays
kubernetes.config's own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    import yaml
    from kubernetes.config import kube_config
except ImportError:  # reported by the module or action that needs the kubernetes library
    yaml = kube_config = None


class _LibYaml:
    """The yaml module as kubernetes.config uses it, with safe_load on libyaml's loader."""

    def __init__(self, module):
        self._module = module

    def safe_load(self, stream):
        return self._module.load(stream, Loader=self._module.CSafeLoader)

    def __getattr__(self, name):
        return getattr(self._module, name)


def use_libyaml():
    """Make kubernetes.config parse kubeconfig files with libyaml when PyYAML has it; once per process, idempotent.
    Returns whether it does."""
    if kube_config is None or not getattr(yaml, "__with_libyaml__", False):
        return False
    if kube_config.yaml is yaml:
        kube_config.yaml = _LibYaml(yaml)
    return isinstance(kube_config.yaml, _LibYaml)
