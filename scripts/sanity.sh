#!/usr/bin/env bash
# ansible-test sanity, offline from the ansible-test file host: the collection is copied into an
# ansible_collections/<ns>/<name> tree (ansible-test refuses symlinks), with kubernetes.core beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
WORK=${SANITY_WORK:-$(mktemp -d)}
DEST=$WORK/ansible_collections/ambientmesh/multicluster
mkdir -p "$DEST" "$WORK/ansible_collections/kubernetes"
# Only what git would ship (tracked and untracked-not-ignored files), minus the harness and benchmarks.
git ls-files -z --cached --others --exclude-standard \
  | grep -zv -E '^(lab|bench|\.ci|scripts)/' \
  | tar --null -T - -cf - | tar -xf - -C "$DEST"
rm -rf "$WORK/ansible_collections/kubernetes/core"
cp -a .collections/ansible_collections/kubernetes/core "$WORK/ansible_collections/kubernetes/core"

# ansible-test bootstraps pip in each venv with a get-pip script it downloads from its own file host,
# which this machine cannot reach; it uses a cached copy first. Ours bootstraps pip with ensurepip.
mkdir -p ~/.ansible/test/cache
pip_version=$("$VENV/bin/python" -c 'from ansible_test._internal.python_requirements import get_venv_packages
import inspect, re; print(re.search(r"pip=.([0-9.]+)", inspect.getsource(get_venv_packages)).group(1))')
cp scripts/get_pip_offline.py ~/.ansible/test/cache/get_pip_${pip_version//./_}.py
cd "$DEST"
"$OLDPWD/$VENV/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
