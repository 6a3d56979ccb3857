"""The Lambda assets of the streaming component. Each sub-folder is deployed exactly as it is (its files are the
asset): Lambda puts the folder on the path and imports ``handler`` and its sibling modules at the top level, so the
folders are not packages. :func:`import_asset_module` imports a module of one the same way, for tests and benchmarks.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FIREHOSE_TRANSFORM = Path(__file__).resolve().parent / "firehose_transform"
POWERTOOLS_LAYER = Path(__file__).resolve().parent / "powertools_layer"

# Modules of the transform asset that its handler imports at the top level (``from record_transform import ...``).
_TRANSFORM_SIBLINGS = ("record_transform",)


def import_asset_module(name: str, *, as_name: str | None = None, directory: Path = FIREHOSE_TRANSFORM) -> ModuleType:
    """Execute ``<directory>/<name>.py`` as a new module called ``as_name`` (default ``name``).

    Its top-level sibling imports resolve as in Lambda: each sibling is imported once under its own name. Without
    ``as_name`` an already imported module is returned (like ``import``); a new ``as_name`` executes the file again
    (a cold start). The module is registered in ``sys.modules`` (dataclasses look their module up there).
    """
    if directory == FIREHOSE_TRANSFORM:
        for sibling in _TRANSFORM_SIBLINGS:
            if sibling != name:
                import_asset_module(sibling, directory=directory)
    module_name = as_name or name
    if as_name is None and module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, directory / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no module {name!r} in {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
