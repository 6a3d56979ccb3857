"""One cdk.Stage per environment: its stacks, wired in deployment order."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from constructs import Construct

from ml_platform.environment import EnvironmentConfig
from ml_platform.inference.config import inference_stack_id
from ml_platform.inference.registry import RegistryStack
from ml_platform.inference.stack import InferenceStack
from ml_platform.lake.stack import DataLakeStack
from ml_platform.monitoring.stack import MonitoredComponent, MonitoringStack
from ml_platform.network.stack import NetworkStack
from ml_platform.security.stack import SecurityStack
from ml_platform.shared.guards import StatefulResourceGuard
from ml_platform.streaming.stacks import IngestionStack, StreamStack


def stack_ids(config: EnvironmentConfig) -> list[str]:
    """The stack ids an environment gets, in deployment order (known without synthesizing)."""
    ids = ["Security", "Network", "DataLake", "Stream", "Ingestion"]
    if config.inference.registry.groups:
        ids.append("Registry")
    ids.extend(inference_stack_id(group) for group in config.inference.stack_groups)
    ids.append("Monitoring")
    return ids


class PlatformStage(cdk.Stage):
    """Every stack of one environment. Stack ids are a stable contract (``<env>/<StackId>``).

    The only place that wires components together: each stack takes the resources it uses (keys, buckets,
    network, topic), never another stack, so a component depends on no other component's code.
    """

    def __init__(
        self,
        scope: Construct,
        config: EnvironmentConfig,
        *,
        peers: Sequence[EnvironmentConfig] = (),
        approval_bus_arn: str | None = None,
    ) -> None:
        """
        :param peers: every declared environment (this one included), to resolve the registry groups'
            ``shared_with`` names to accounts. Default: none (a group shared with another environment is an error).
        :param approval_bus_arn: the delivery pipeline account's default event bus, where the registry's approval
            rule forwards approvals. Default: none (no pipeline).
        """
        super().__init__(scope, config.name, env=cdk.Environment(account=config.account, region=config.region))
        self.config = config
        common = {"config": config}
        self.security = SecurityStack(self, "Security", **common)
        self.network = NetworkStack(self, "Network", logs_key=self.security.logs_key, **common)
        self.data_lake = DataLakeStack(
            self,
            "DataLake",
            lake_key=self.security.data_lake_key,
            logs_key=self.security.logs_key,
            ml_key=self.security.ml_key,
            alarm_topic=self.security.alarm_topic,
            **common,
        )
        self.stream = StreamStack(self, "Stream", encryption_key=self.security.streaming_key, **common)
        self.ingestion = IngestionStack(
            self,
            "Ingestion",
            source_stream=self.stream.stream,
            source_key=self.security.streaming_key,
            vpc=self.network.vpc,
            subnets=self.network.isolated_subnets,
            security_group=self.network.workload_security_group,
            raw_bucket=self.data_lake.raw_bucket,
            lake_key=self.security.data_lake_key,
            raw_table=self.data_lake.raw_table,
            catalog_key=self.data_lake.catalog_key,
            logs_key=self.security.logs_key,
            alarm_topic=self.security.alarm_topic,
            **common,
        )
        # The model registry (only with declared groups): before the endpoints that deploy its versions.
        self.registry: RegistryStack | None = None
        if config.inference.registry.groups:
            self.registry = RegistryStack(
                self,
                "Registry",
                alarm_topic=self.security.alarm_topic,
                alarms_key=self.security.alarms_key,
                reader_accounts=_reader_accounts(config, peers),
                approval_bus_arn=approval_bus_arn,
                **common,
            )
        # One stack per endpoint stack group; the default group's stack is `Inference` (None without one).
        self.inference_stacks: list[InferenceStack] = []
        for group in config.inference.stack_groups:
            inference = InferenceStack(
                self,
                inference_stack_id(group),
                stack_group=group,
                vpc=self.network.vpc,
                subnets=self.network.isolated_subnets,
                security_group=self.network.workload_security_group,
                models_bucket=self.data_lake.models_bucket,
                capture_bucket=self.data_lake.capture_bucket,
                lake_key=self.data_lake.lake_key,
                ml_key=self.security.ml_key,
                logs_key=self.security.logs_key,
                alarm_topic=self.security.alarm_topic,
                alarms_key=self.security.alarms_key,
                **common,
            )
            if self.registry is not None:
                # Endpoints name registry versions by ARN, not by reference: the order is explicit.
                inference.add_stack_dependency(self.registry)
            self.inference_stacks.append(inference)
        self.inference: InferenceStack | None = next(
            (stack for stack in self.inference_stacks if stack.node.id == "Inference"), None
        )
        monitored: list[MonitoredComponent] = [self.ingestion, *self.inference_stacks, self.data_lake]
        self.monitoring = MonitoringStack(
            self,
            "Monitoring",
            components=monitored,
            alarm_topic=self.security.alarm_topic,
            alarms_key=self.security.alarms_key,
            glue_crawler_names=self.data_lake.crawler_names,
            **common,
        )

        for key, value in config.resource_tags.items():
            cdk.Tags.of(self).add(key, value)
        if config.is_production_like:
            cdk.Aspects.of(self).add(StatefulResourceGuard())

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [child for child in self.node.children if isinstance(child, cdk.Stack)]


def _reader_accounts(config: EnvironmentConfig, peers: Sequence[EnvironmentConfig]) -> dict[str, tuple[str, ...]]:
    """Group → the accounts of the environments it is shared with (``load_environments`` checked the names)."""
    accounts = {peer.name: peer.account for peer in peers}
    unknown = sorted({name for g in config.inference.registry.groups for name in g.shared_with} - accounts.keys())
    if unknown:
        raise ValueError(
            f"environment {config.name!r}: registry groups are shared with {', '.join(unknown)}, which the stage was "
            "not given as peers (pass every declared environment)"
        )
    return config.inference.registry.reader_accounts(accounts, own_account=config.account)
