"""Where the lab's CRDs come from: a local folder, ../shared/crds next to the repository or $AMBIENTMESH_CRDS,
holding gateway-api-<version>/ and istio-<version>/ with the pinned releases' YAML files. The lab never
downloads them: it runs without internet access."""

import os
from pathlib import Path

from lab import pins

REPO = Path(__file__).resolve().parent.parent


def _local_root():
    env = os.environ.get("AMBIENTMESH_CRDS")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "crds"


def sources():
    """Return {'gateway-api': [paths], 'istio': [paths]} from the local CRD folder, or exit naming the fix."""
    root = _local_root()
    folders = {"gateway-api": root / ("gateway-api-" + pins.GATEWAY_API), "istio": root / ("istio-" + pins.ISTIO_CRDS)}
    result = {key: sorted(folder.glob("*.yaml")) for key, folder in folders.items()}
    missing = [str(folders[key]) for key, paths in result.items() if not paths]
    if missing:
        raise SystemExit("CRDs not found: %s hold no *.yaml; put the Gateway API %s and Istio %s CRD files there or "
                         "set AMBIENTMESH_CRDS to a folder with gateway-api-%s/ and istio-%s/"
                         % (" and ".join(missing), pins.GATEWAY_API, pins.ISTIO_CRDS, pins.GATEWAY_API,
                            pins.ISTIO_CRDS))
    return result
