"""The SageMaker endpoint construct, split along its seams: core.py (model, endpoint configuration, endpoint),
role.py (execution role), guardrails.py (deployment policy and rollback alarms), autoscaling.py, alarms.py
(operational alarms), metrics.py (the variant's metrics), events.py (EventBridge rules), monitor.py (data-quality
monitor)."""

from ml_platform.inference.endpoint.core import SageMakerEndpoint
from ml_platform.inference.endpoint.role import AsyncNotifications

__all__ = ["AsyncNotifications", "SageMakerEndpoint"]
