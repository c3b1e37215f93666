"""Local multi-cluster Kubernetes lab: real API servers, kwok nodes, Helm, Envoy, on loopback only."""
