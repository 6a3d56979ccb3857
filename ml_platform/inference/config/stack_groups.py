"""Stack groups (platform rule): which CloudFormation stack an endpoint lives in."""

from __future__ import annotations

# Stack groups (platform rule). Every endpoint of a group lives in one CloudFormation stack: the default group's
# stack is `Inference`, any other group's is `Inference-<group>`. CloudFormation allows 500 resources per template
# and a 1 MB template body in S3 (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/
# cloudformation-limits.html); the platform keeps every stack within 50 % of both. Measured with aws-cdk-lib
# 2.275.0 (benchmarks/run.py, docs/benchmarks.md; tests/inference/test_inference_stack_groups.py re-measures it):
#   * the heaviest endpoint (GPU instances, linear policy with 3 rollback alarms, autoscaling, asynchronous with
#     success and error topics, data capture, Model Monitor, zero-invocation alarm, a 1 KB container environment):
#     32 resources and 62.0 KB of template per endpoint;
#   * the dev `churn` endpoint (canary, no autoscaling): 19 resources and 34.7 KB;
#   * per stack, whatever the endpoints: 3 resources and 3.3 KB (the events dead-letter queue and its alarm).
# 3 + 7 x 32 = 227 resources (45 % of 500) and 3.3 + 7 x 62.0 = 437 KB (44 % of 1,000,000 bytes): at most 7
# endpoints per group keeps any group within 50 % (each endpoint also adds 4 outputs: 28 of 200). Only container
# environments far above 1 KB (the service allows 32 KB each) could push a full group's bytes past 50 %; the
# headroom test over every declared environment (make test) catches that.
DEFAULT_STACK_GROUP = "default"
MAX_ENDPOINTS_PER_STACK_GROUP = 7
STACK_GROUP_PATTERN = r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$"


def inference_stack_id(group: str) -> str:
    """The stack id of a stack group: ``Inference`` for the default group, ``Inference-<group>`` otherwise."""
    return "Inference" if group == DEFAULT_STACK_GROUP else f"Inference-{group}"
