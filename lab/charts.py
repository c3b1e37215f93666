"""Where Istio's real Helm charts for the lab come from: $AMBIENTMESH_CHARTS (a folder of chart folders, or one
holding <version>/ folders) or ../shared/charts/istio/<pins.ISTIO> next to the repository. When neither exists
(a machine with internet access and no local copy) the roles use the distribution's own chart source."""

import os
from pathlib import Path

from lab import pins

REPO = Path(__file__).resolve().parent.parent


def istio():
    """The folder holding base/, istiod/, cni/ and ztunnel/ for pins.ISTIO, or None."""
    roots = [Path(os.environ["AMBIENTMESH_CHARTS"])] if os.environ.get("AMBIENTMESH_CHARTS") else []
    roots.append(REPO.parent / "shared" / "charts" / "istio")
    for root in roots:
        for folder in (root, root / pins.ISTIO):
            if (folder / "istiod" / "Chart.yaml").is_file():
                return folder.resolve()
    return None


def ambient_vars():
    """The `ambient` role variables that install these charts: source and version."""
    folder = istio()
    return {"ambient_chart_source": str(folder) if folder else "", "ambient_istio_version": pins.ISTIO}
