"""The fake's `DaVinciResolveScript`: loads the scripting library the way Resolve's own module does.

Resolve's module first tries `import fusionscript`, then loads the library named by `RESOLVE_SCRIPT_LIB` (here a
Python file, the fake), and otherwise raises `ImportError("Could not locate module dependencies")`.
"""

import importlib.util
import os
import sys


try:
    import fusionscript as script  # noqa: F401
except ImportError:
    library = os.environ.get("RESOLVE_SCRIPT_LIB", "")
    if not os.path.isfile(library):
        raise ImportError("Could not locate module dependencies") from None
    spec = importlib.util.spec_from_file_location("fusionscript", library)
    script = importlib.util.module_from_spec(spec)
    sys.modules["fusionscript"] = script
    spec.loader.exec_module(script)

scriptapp = script.scriptapp
