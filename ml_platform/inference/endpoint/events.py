"""The endpoint's EventBridge rules: guarded deployments and failure states go to the alarm topic.

Built into the endpoint construct's scope (ids ``DeploymentEvents``, ``FailureEvents``): a construct level of its
own would change the logical ids of deployed rules.
"""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ml_platform.shared.alarm_topic import AlarmTopicTarget

# EventBridge detail types SageMaker sends for endpoints ("Events that Amazon SageMaker AI sends to
# Amazon EventBridge": "SageMaker Endpoint State Change", "SageMaker Endpoint Deployment State Change").
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
ENDPOINT_DEPLOYMENT_STATE_CHANGE = "SageMaker Endpoint Deployment State Change"
# Endpoint statuses that need a human. The documented event example spells statuses in upper snake case
# ("IN_SERVICE") while DescribeEndpoint uses Pascal case ("InService"), so both spellings are matched.
FAILURE_STATUSES: tuple[str, ...] = (
    "FAILED",
    "ROLLING_BACK",
    "UPDATE_ROLLBACK_FAILED",
    "Failed",
    "RollingBack",
    "UpdateRollbackFailed",
)


class EndpointEvents:
    """Deployment progress (new configuration rolling out, baking, rolling back) and failure states of one
    endpoint, to the alarm topic (whose policy and key already allow EventBridge). Exposes ``deployment_events``
    and ``failure_events``."""

    def __init__(
        self,
        scope: Construct,
        *,
        endpoint_name: str,
        topic: sns.ITopic,
        dead_letter_queue: sqs.IQueue | None,
    ) -> None:
        """
        :param scope: the endpoint construct.
        :param dead_letter_queue: where EventBridge puts events it could not deliver. None: they are dropped
            after EventBridge's retries.
        """
        target = AlarmTopicTarget(topic, dead_letter_queue=dead_letter_queue)
        self.deployment_events = events.Rule(
            scope,
            "DeploymentEvents",
            description=f"{endpoint_name}: guarded deployments of a new endpoint configuration",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[ENDPOINT_DEPLOYMENT_STATE_CHANGE],
                detail={
                    "EndpointName": [endpoint_name],
                    # Only deployments of a new configuration carry a PendingDeploymentSummary; capacity
                    # changes by autoscaling do not, so they are not forwarded.
                    "PendingDeploymentSummary": {"EndpointConfigName": [{"exists": True}]},
                },
            ),
            targets=[target],
        )
        self.failure_events = events.Rule(
            scope,
            "FailureEvents",
            description=f"{endpoint_name}: endpoint failed or rolling back",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[ENDPOINT_STATE_CHANGE, ENDPOINT_DEPLOYMENT_STATE_CHANGE],
                detail={"EndpointName": [endpoint_name], "EndpointStatus": list(FAILURE_STATUSES)},
            ),
            targets=[target],
        )
