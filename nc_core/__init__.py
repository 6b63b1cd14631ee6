"""nc: a plugin-based framework for neural data compression."""

import pluggy

__version__ = "0.1.0"

#: marker for plugin hook implementations: ``@hookimpl def nc_register_coders(): ...``
hookimpl = pluggy.HookimplMarker("nc")

__all__ = ["hookimpl", "__version__"]
