"""skiff: lets KFP lightweight components find a `kfp` package with no network.

skiff runs every pipeline task with PYTHONPATH pointing at this directory (see
src/pipelines/lightweight.hpp). Python imports `sitecustomize` once at start-up, after the
site-packages directories are on sys.path. This module then:

1. uses the real `kfp` package when one is importable (a regular package that has the KFP v2
   executor, `kfp/dsl/executor_main.py` or, for KFP 2.0, `kfp/components/executor_main.py`);
2. otherwise puts skiff's own `kfp` package (the directory `../pkg`) first on sys.path;
3. runs the `sitecustomize` it shadows (Debian's, for example), if there is one.
"""

import os
import sys


def _skiff_find(name, path=None):
    """Like importlib.util.find_spec for a top-level name, without importing importlib.util
    (its imports would double Python's start-up time)."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(name, path)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            return spec
    return None


def _skiff_real_kfp_present(install_dir):
    spec = _skiff_find("kfp")
    if spec is None or spec.loader is None:  # absent, or a namespace directory only
        return False
    locations = list(spec.submodule_search_locations or [])
    if not locations:
        return True  # found by a finder that does not expose files: trust it
    for location in locations:
        if os.path.abspath(location).startswith(install_dir + os.sep):
            continue
        for module in ("dsl", "components"):
            if os.path.isfile(os.path.join(location, module, "executor_main.py")):
                return True
    return False


def _skiff_install():
    here = os.path.dirname(os.path.abspath(__file__))
    package_dir = os.path.join(os.path.dirname(here), "pkg")
    if not _skiff_real_kfp_present(os.path.dirname(here)):
        sys.path.insert(0, package_dir)
    # Run the sitecustomize this file shadows.
    import importlib.machinery
    import types

    skip = {here, package_dir}
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) not in skip]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    try:
        module = types.ModuleType("sitecustomize")
        module.__file__ = spec.origin
        module.__spec__ = spec
        spec.loader.exec_module(module)
    except Exception as e:  # as site.py does: report and go on
        print(f"Error in sitecustomize ({spec.origin}): {type(e).__name__}: {e}", file=sys.stderr)


_skiff_install()
