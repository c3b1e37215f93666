"""Where the lab's CRDs come from: a local folder (../shared/crds or $AMBIENTMESH_CRDS), else the pinned
upstream release files, downloaded once into the cache (outside the lab's namespace)."""

import os
import urllib.request
from pathlib import Path

from lab import build, pins

REPO = Path(__file__).resolve().parent.parent


def _local_root():
    env = os.environ.get("AMBIENTMESH_CRDS")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "crds"


def sources(fetch=True):
    """Return {'gateway-api': [paths], 'istio': [paths]}, downloading to the cache when needed and allowed."""
    root = _local_root()
    gw = root / ("gateway-api-" + pins.GATEWAY_API)
    istio = root / ("istio-" + pins.ISTIO_CRDS)
    if gw.is_dir() and istio.is_dir():
        return {"gateway-api": sorted(gw.glob("*.yaml")), "istio": sorted(istio.glob("*.yaml"))}
    cache = build.cache_root() / "crds"
    targets = {
        "gateway-api": (cache / ("gateway-api-%s.yaml" % pins.GATEWAY_API),
                        pins.GATEWAY_API_URL.format(version=pins.GATEWAY_API)),
        "istio": (cache / ("istio-%s.yaml" % pins.ISTIO_CRDS), pins.ISTIO_CRDS_URL.format(version=pins.ISTIO_CRDS)),
    }
    result = {}
    for key, (path, url) in targets.items():
        if not path.exists():
            if not fetch:
                raise SystemExit("CRDs for %s not found in %s and not cached; run `python -m lab crds` "
                                 "outside the lab namespace to fetch %s" % (key, root, url))
            cache.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - pinned https URL
                path.write_bytes(resp.read())
        result[key] = [path]
    return result
