"""What the platform needs to know about SageMaker ML instance types. Pure data, no CDK.

Used by the endpoint configuration (validation) and by the endpoint construct (which must decide
whether an endpoint configuration may carry a KMS volume key, and which utilization alarms apply).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ml.<family>.<size>, e.g. ml.m5.xlarge, ml.g4dn.12xlarge, ml.inf2.xlarge, ml.c6gd.large.
INSTANCE_TYPE_PATTERN = re.compile(r"^ml\.(?P<family>[a-z]+[0-9]+[a-z-]*)\.(?P<size>medium|large|[0-9]*xlarge)$")

# Families whose instances carry local NVMe instance-store volumes without a "d" in their name.
# CreateEndpointConfig, KmsKeyId: "Certain Nitro-based instances include local storage ... You can't
# request a KmsKeyId when using an instance type with local storage ... If you specify a value for
# KmsKeyId when using any nitro-based instances with local storage, the call to CreateEndpointConfig
# fails." (SageMaker API reference, CreateEndpointConfig.KmsKeyId; the SageMaker training docs name
# ml.p4d, ml.g4dn and ml.g5 as NVMe families.) EC2 instance naming marks instance storage with a "d"
# in the attribute letters (m5d, c5d, r5d, c6id, m6gd, g4dn, p3dn, p4d, p4de); the families below have
# NVMe instance storage by default (EC2 "Instance store volume limits" table).
_NVME_FAMILIES_WITHOUT_D: frozenset[str] = frozenset(
    {"g5", "g6", "g6e", "gr6", "p5", "p5e", "p5en", "trn1", "trn1n", "trn2"}
)

# Families with NVIDIA GPUs (they publish GPUUtilization / GPUMemoryUtilization).
_GPU_FAMILIES: frozenset[str] = frozenset(
    {"g4dn", "g5", "g6", "g6e", "gr6", "p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en"}
)

# GPUs per instance where they do not follow the g-family sizing rule (EC2 accelerated computing).
_GPUS_PER_INSTANCE: dict[str, int] = {"p3dn": 8, "p4d": 8, "p4de": 8, "p5": 8, "p5e": 8, "p5en": 8}
_GPUS_BY_SIZE: dict[str, dict[str, int]] = {
    "p2": {"xlarge": 1, "8xlarge": 8, "16xlarge": 16},
    "p3": {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8},
}


@dataclass(frozen=True)
class InstanceType:
    """A parsed ``ml.*`` instance type."""

    name: str
    family: str
    size: str

    @classmethod
    def parse(cls, name: str) -> InstanceType:
        match = INSTANCE_TYPE_PATTERN.match(name)
        if not match:
            raise ValueError(f"{name!r} is not a SageMaker ML instance type (ml.<family>.<size>, e.g. ml.m5.xlarge)")
        return cls(name=name, family=match["family"], size=match["size"])

    @property
    def has_local_nvme_storage(self) -> bool:
        """True when the instance has NVMe instance storage, so the endpoint configuration must not
        name a KMS volume key (the hardware module encrypts the local volumes)."""
        attributes = re.sub(r"^[a-z]+[0-9]+", "", self.family)  # the letters after the generation digit
        return "d" in attributes or self.family in _NVME_FAMILIES_WITHOUT_D

    @property
    def is_inf1(self) -> bool:
        """Inf1 (first-generation Inferentia): deployment guardrails fall back to all-at-once."""
        return self.family == "inf1"

    @property
    def has_gpus(self) -> bool:
        return self.family in _GPU_FAMILIES

    @property
    def vcpus(self) -> int:
        """vCPUs of the size (CPUUtilization is reported as the sum over all cores, 0-100 % each).

        EC2 sizes scale linearly: large = 2, xlarge = 4, Nxlarge = 4N; medium (the t families) = 2.
        """
        if self.size in ("medium", "large"):
            return 2
        multiplier = self.size.removesuffix("xlarge")
        return 4 * (int(multiplier) if multiplier else 1)

    @property
    def gpus(self) -> int:
        """NVIDIA GPUs of the size (GPUUtilization is the sum over all GPUs); 0 without GPUs."""
        if not self.has_gpus:
            return 0
        if self.family in _GPUS_PER_INSTANCE:
            return _GPUS_PER_INSTANCE[self.family]
        if self.family in _GPUS_BY_SIZE:
            return _GPUS_BY_SIZE[self.family].get(self.size, 1)
        # g4dn / g5 / g6 / g6e / gr6: one GPU up to 16xlarge except 12xlarge; 4 on 12xlarge and 24xlarge;
        # 8 on 48xlarge (EC2 accelerated-computing specifications).
        return {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}.get(self.size, 1)
