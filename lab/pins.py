"""Pinned versions of every tool the lab builds or installs, in one place."""

KUBERNETES = "v1.36.3"
ETCD = "v3.6.16"
HELM = "v3.21.4"
KWOK = "v0.8.0"
PROMETHEUS = "v0.316.0"  # Go module version of github.com/prometheus/prometheus (Prometheus 3.x)
GATEWAY_API = "v1.6.1"  # what Istio 1.31 builds against (v1.6.0), newest patch here
ISTIO_CRDS = "1.29.6"  # Istio CRDs a cluster may already hold (applied by an older istioctl), which the ambient role adopts
# Istio: the charts in ../shared/charts/istio/<ISTIO> and the istio.io/istio Go module (release-1.31,
# 2026-08-27) whose charts are byte-for-byte those; pilot-discovery (the real istiod) is built from it.
ISTIO = "1.31.0-rc.0"
ISTIO_MODULE = "v0.0.0-20260827124520-eed52ebb66ad"
