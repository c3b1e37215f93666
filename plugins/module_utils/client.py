# -*- coding: utf-8 -*-
# Copyright: ambientmesh.multicluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster client every module uses: kubernetes.core's auth contract and client, plus the reads and
writes our modules need (server-side apply with our field manager, dry-run in check mode, errors that
name the object)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os

from ansible_collections.ambientmesh.multicluster.plugins.module_utils.compare import clean
from ansible_collections.ambientmesh.multicluster.plugins.module_utils.errors import MeshError, api_error
from ansible_collections.ambientmesh.multicluster.plugins.module_utils import kubeconfig
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

try:
    from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError, ResourceNotFoundError
except ImportError:
    # Stand-ins so this file imports without the library; AnsibleK8SModule.requires() reports it at start.
    class DynamicApiError(Exception):
        """kubernetes.dynamic.exceptions.DynamicApiError"""

    class NotFoundError(DynamicApiError):
        """kubernetes.dynamic.exceptions.NotFoundError"""

    class ResourceNotFoundError(Exception):
        """kubernetes.dynamic.exceptions.ResourceNotFoundError"""

FIELD_MANAGER = "ambientmesh-multicluster"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "ambientmesh.multicluster"
MERGE_PATCH = "application/merge-patch+json"
# A list of metadata only, as informers read it: names and labels, never a Secret's data.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
UNREAD = object()  # apply()'s before when the caller has not read the object


def managed(obj):
    """Whether obj carries this collection's managed-by label (what it made, and so may change or delete)."""
    return ((obj.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def auth_argument_spec():
    """kubernetes.core's auth options, so users pass exactly what they already pass to kubernetes.core.k8s."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def check_auth_environment(params, environ=None):
    """Refuse the AWX trap: K8S_AUTH_HOST/K8S_AUTH_API_KEY in the environment silently override `context`."""
    environ = os.environ if environ is None else environ
    if params.get("context") and not params.get("host") and environ.get("K8S_AUTH_HOST") and (
            environ.get("K8S_AUTH_API_KEY") or environ.get("K8S_AUTH_CERT_FILE") or environ.get("K8S_AUTH_USERNAME")):
        raise MeshError(
            "context=%s was given but K8S_AUTH_HOST is set in the environment, which would send this task to %s "
            "instead; remove the Kubernetes bearer-token credential (or unset K8S_AUTH_HOST) and give clusters "
            "through a kubeconfig and per-host contexts" % (params["context"], environ["K8S_AUTH_HOST"]))


class Kube:
    """One cluster, one module run: kubernetes.core's client (dry-run in check mode) and simple verbs."""

    def __init__(self, module):
        """The module's own cluster, from its auth options."""
        self._connect(module.params, module.server_side_dry_run, module.warn, module=module)

    @classmethod
    def connect(cls, auth, dry_run, warn):
        """Another cluster (a mesh_link peer) from auth options alone: kubernetes.core's get_api_client(**auth)
        needs no module. auth holds kubernetes.core.k8s option names (context, kubeconfig, validate_certs, ...)."""
        kube = cls.__new__(cls)
        kube._connect(auth, dry_run, warn, **auth)
        return kube

    def _connect(self, params, dry_run, warn, **client_args):
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
        from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

        check_auth_environment(params)
        kubeconfig.use_libyaml()
        try:
            k8s = get_api_client(**client_args)
        except CoreException as e:
            raise MeshError("cannot connect to the cluster (context=%s): %s" % (params.get("context"), e))
        self._find = k8s.resource        # kubernetes.core's resource lookup (kind, name, short names)
        self._dynamic = k8s.client       # the kubernetes DynamicClient: requests go through it
        self.host = k8s.configuration.host
        self.dry_run = dry_run
        self.warn = warn

    @property
    def api_client(self):
        """The kubernetes ApiClient, for typed APIs (CoreV1Api for a pod's log)."""
        return self._dynamic.client

    @property
    def version(self):
        """The server's /version answer ({"kubernetes": {"gitVersion": ...}}), {} when it gave none."""
        return self._dynamic.version or {}

    # ---- discovery ---------------------------------------------------------------------------------------
    def resource(self, api_version, kind):
        try:
            return self._find(kind, api_version)
        except ResourceNotFoundError:
            raise MeshError("the cluster does not serve %s %s: are its CRDs installed?" % (api_version, kind))
        except DynamicApiError as e:
            raise api_error("discover", kind, api_version, e)
        except Exception as e:  # urllib3 connection errors and the like
            raise MeshError("cannot reach the cluster to discover %s %s: %s" % (api_version, kind, e))

    def served(self, api_version, kind):
        try:
            self._find(kind, api_version)
            return True
        except ResourceNotFoundError:
            return False

    # ---- reads -------------------------------------------------------------------------------------------
    def get(self, api_version, kind, name, namespace=None):
        """The live object as a dict, or None when it does not exist."""
        res = self.resource(api_version, kind)
        try:
            return res.get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None
        except DynamicApiError as e:
            raise api_error("get", kind, name, e, namespace)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        res = self.resource(api_version, kind)
        try:
            return res.get(namespace=namespace, label_selector=label_selector).to_dict().get("items") or []
        except NotFoundError:
            return []
        except DynamicApiError as e:
            raise api_error("list", kind, label_selector or "*", e, namespace)

    def metadata(self, api_version, kind, namespace=None):
        """{name: object} of every object of a kind (in namespace), each with its metadata only, from one list."""
        res = self.resource(api_version, kind)
        try:
            items = res.get(namespace=namespace, header_params={"Accept": METADATA_LIST}).to_dict().get("items") or []
        except NotFoundError:
            return {}
        except DynamicApiError as e:
            raise api_error("list", kind, "*", e, namespace)
        return dict((item["metadata"]["name"], item) for item in items)

    # ---- writes ------------------------------------------------------------------------------------------
    def apply(self, obj, force=True, field_manager=FIELD_MANAGER, before=UNREAD):
        """Server-side apply obj; returns (changed, before, after). In check mode the server only dry-runs it.
        before: the live object (None: known absent) when the caller read it this run, which saves a GET."""
        meta = obj["metadata"]
        res = self.resource(obj["apiVersion"], obj["kind"])
        if before is UNREAD:
            before = self.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        try:
            after = self._dynamic.server_side_apply(
                res, body=obj, name=meta["name"], namespace=meta.get("namespace"),
                field_manager=field_manager, force_conflicts=force,
                dry_run="All" if self.dry_run else None).to_dict()
        except NotFoundError as e:
            if not (self.dry_run and meta.get("namespace") and self.get("v1", "Namespace", meta["namespace"]) is None):
                raise api_error("apply", obj["kind"], meta["name"], e, meta.get("namespace"))
            # Check mode of a whole play: an earlier task would have created the namespace.
            self.warn("check mode: namespace %s does not exist yet, so %s/%s was not dry-run by the server; a "
                      "real run creates it once the namespace exists" % (meta["namespace"], obj["kind"], meta["name"]))
            return True, None, obj
        except DynamicApiError as e:
            raise api_error("apply", obj["kind"], meta["name"], e, meta.get("namespace"))
        return before is None or clean(before) != clean(after), before, after

    def delete(self, api_version, kind, name, namespace=None):
        """Delete if present; returns the object that was there (None when there was nothing to delete)."""
        before = self.get(api_version, kind, name, namespace)
        if before is None:
            return None
        res = self.resource(api_version, kind)
        try:
            res.delete(name=name, namespace=namespace, dry_run="All" if self.dry_run else None)
        except NotFoundError:
            return None
        except DynamicApiError as e:
            raise api_error("delete", kind, name, e, namespace)
        return before

    def patch(self, api_version, kind, name, body, namespace=None, subresource=None, content_type=MERGE_PATCH,
              verb=None):
        """A patch, by default a JSON merge patch (the scale subresource, labels we do not own by SSA). With
        verb, every API error reads "<verb> <kind>/<name>: <server message>", a missing object too."""
        res = self.resource(api_version, kind)
        if subresource:
            res = res.subresources[subresource]
        try:
            return self._dynamic.patch(res, body=body, name=name, namespace=namespace, content_type=content_type,
                                       dry_run="All" if self.dry_run else None).to_dict()
        except NotFoundError as e:
            if verb:
                raise api_error(verb, kind, name, e, namespace)
            raise MeshError("%s/%s not found%s" % (kind, name, " in namespace %s" % namespace if namespace else ""))
        except DynamicApiError as e:
            raise api_error(verb or "patch", kind, name, e, namespace)
