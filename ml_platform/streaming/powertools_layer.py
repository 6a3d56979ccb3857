"""A Lambda layer with exactly the Powertools for AWS Lambda (Python) the tests run against.

The transform used to load AWS's public Powertools layer by number (``...:AWSLambdaPowertoolsPythonV3-python314-
x86_64:27``). The Powertools documentation lists that ARN, but not which package version a layer number carries
(27 was the documented layer around release 3.23, while the tests pin 3.37.0), and a missing layer version fails
function creation. So the dependency on the public layer is removed: this layer is built at synth time, offline,
from the distributions installed from the project's pins (requirements.txt), and its asset hash is derived from
their files, so the deployed code is byte for byte what ``make test`` exercised.

Only pure-Python distributions go in (Powertools and its dependencies jmespath and typing-extensions); they run on
any Python 3 runtime and architecture.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path, PurePosixPath

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from ml_platform.streaming.runtime import POWERTOOLS_LAYER

# Powertools and its runtime dependencies (its "Requires"), in the versions pinned by requirements.txt.
LAYER_DISTRIBUTIONS: tuple[str, ...] = ("aws-lambda-powertools", "jmespath", "typing-extensions")
# Metadata files pip writes about the installation itself (who installed it, file hashes including the scripts'
# paths, the source URL), which differ from one machine or pip version to the next. They are not needed at runtime
# (importlib.metadata reads METADATA), and leaving them out keeps the layer, and its hash, the same everywhere.
_INSTALLATION_RECORDS = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def _layer_files(distributions: Sequence[str]) -> list[tuple[str, Path]]:
    """(path inside the layer's ``python/`` directory, installed file) of every file of ``distributions``,
    without byte code and installation records, sorted."""
    files: dict[str, Path] = {}
    for name in distributions:
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise RuntimeError(
                f"{name} is not installed: the Powertools layer is built from the installed pins (make install)"
            ) from None
        for entry in distribution.files or []:
            relative = PurePosixPath(str(entry))
            if relative.suffix == ".pyc" or "__pycache__" in relative.parts or relative.parts[0] == "..":
                continue
            if relative.parent.name.endswith(".dist-info") and relative.name in _INSTALLATION_RECORDS:
                continue
            files[str(relative)] = Path(str(distribution.locate_file(entry)))
    return sorted(files.items())


def layer_fingerprint(distributions: Sequence[str] = LAYER_DISTRIBUTIONS) -> str:
    """SHA-256 over the layer's file names and contents: the asset hash (same pins, same hash, same synth)."""
    digest = hashlib.sha256()
    for relative, path in _layer_files(distributions):
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class _CopyInstalledDistributions:
    """Local bundling: copy the installed distributions into ``python/`` (the layout Lambda adds to the path)."""

    def __init__(self, distributions: Sequence[str]) -> None:
        self._distributions = tuple(distributions)

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        target = Path(output_dir) / "python"
        for relative, path in _layer_files(self._distributions):
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        return True


class PowertoolsLayer(Construct):
    """The Powertools layer of the transform Lambda, built from the installed, pinned distributions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: lambda_.Runtime,
        architecture: lambda_.Architecture,
        distributions: Sequence[str] = LAYER_DISTRIBUTIONS,
    ) -> None:
        """
        :param runtime: the function's runtime (the layer's only compatible runtime).
        :param architecture: the function's architecture.
        :param distributions: what goes into the layer. Default: Powertools and its dependencies.
        """
        super().__init__(scope, construct_id)
        versions = ", ".join(f"{name} {metadata.version(name)}" for name in distributions)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            description=f"Powertools for AWS Lambda (Python) as tested: {versions}",
            code=lambda_.Code.from_asset(
                str(POWERTOOLS_LAYER),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=layer_fingerprint(distributions),
                bundling=BundlingOptions(
                    # Never used: the local bundling below always succeeds (no Docker, no network).
                    image=DockerImage.from_registry("local-bundling-only"),
                    local=_CopyInstalledDistributions(distributions),
                ),
            ),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
        )
