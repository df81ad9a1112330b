"""KFP 2.0's `kfp.components` names (the executor moved to kfp.dsl in later versions)."""

from kfp.dsl import *  # noqa: F401,F403
