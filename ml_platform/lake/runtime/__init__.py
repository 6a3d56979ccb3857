"""The Glue job assets of the lake component. ``curation_job/`` is deployed as it is: ``job.py`` is the job's script
and the folder (zipped) its ``--extra-py-files``, so Glue imports ``curation_transform`` at the top level; the folder
is not a package. Tests load its modules with ``ml_platform.streaming.runtime.import_asset_module``.
"""

from __future__ import annotations

from pathlib import Path

CURATION_JOB = Path(__file__).resolve().parent / "curation_job"
CURATION_SCRIPT = CURATION_JOB / "job.py"
