"""skiff's stand-in for the `kfp` package.

It implements what KFP v2 lightweight Python components need at run time: the `kfp.dsl` names
their sources import and KFP's executor (`python3 -m kfp.dsl.executor_main`). skiff uses it
only when the real `kfp` package is not importable (see boot/sitecustomize.py). Compiling
pipelines and the KFP client are not part of it.
"""

__version__ = "2.14.0+skiff"
SKIFF_SHIM = True

from kfp import dsl  # noqa: E402,F401  (real kfp exposes kfp.dsl after `import kfp`)
