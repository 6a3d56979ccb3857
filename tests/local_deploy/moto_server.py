#!/usr/bin/env python3
"""moto's server (moto[server] from requirements-dev.txt) with fixes for emulator bugs that stop a real
`cdk deploy` of this app. Used by tests/local_deploy/harness.py; not a general-purpose tool.

Each fix makes moto do what AWS documents, never more; docs/operations.md ("Local deploy") lists them:

* AWS::KMS::Key ``Tags``: moto passes CloudFormation's ``[{Key, Value}]`` to its KMS tagger, which expects
  the KMS API's ``[{TagKey, TagValue}]``, and fails with ``KeyError: 'TagKey'`` (every tagged key).
  ``KeyPolicy``: moto stores the template's JSON object where its API expects a JSON string, so every later
  call that checks the key policy (DescribeKey, ...) fails with an internal error.
* Properties moto's CloudFormation models ignore although its service APIs support them, applied through
  those APIs after the resource is created: AWS::Kinesis::Stream ``StreamEncryption``; AWS::S3::Bucket
  ``VersioningConfiguration`` and ``PublicAccessBlockConfiguration``; AWS::Logs::LogGroup ``KmsKeyId`` (moto
  reads the API's ``kmsKeyId`` spelling only); AWS::EC2::Subnet ``MapPublicIpOnLaunch``.
* ``Fn::GetStackOutput`` (the intrinsic of CDK's weak cross-stack references, cdk.json
  ``@aws-cdk/core:defaultCrossStackReferences``): moto does not know it and passes the raw object on. The fix
  resolves it as CloudFormation documents: the named output of the named stack in the named region (same
  account), and fails like CloudFormation when the stack or output does not exist.
* AWS::SageMaker::Endpoint ``EndpointName``: moto ignores the property and names the endpoint after the
  stack; the fix uses the declared name, as CloudFormation does.

And two stubs, so that a stack whose other resources moto can create is not blocked by one it cannot.
A stub creates nothing: its physical id starts with ``NOT_EMULATED`` and deploy_local.py reports every such
resource as "not emulated", never as deployed.

* Resource types moto's CloudFormation does not implement (e.g. AWS::CloudWatch::Alarm, AWS::Glue::Table,
  AWS::S3::BucketPolicy): moto skips them, and a stack that references one (``Ref``/``Fn::GetAtt``, e.g. an
  endpoint's rollback alarms) fails. The stub stands in with a marked id; ``Fn::GetAtt`` gives a marked ARN.
* Custom resources (``Custom::*``): moto runs the provider Lambda only in Docker, which a CI machine may not
  have, and would wait for its answer forever. The stub completes them at once, without running any code.

Usage: ``python tests/local_deploy/moto_server.py --port PORT`` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

# Physical-id prefix of everything a stub stands in for (read by tests/local_deploy/harness.py).
NOT_EMULATED = "moto-local-not-emulated"


def _kms_key_cloudformation_tags() -> None:
    from moto.kms import models

    original = models.Key.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = dict(cloudformation_json.get("Properties", {}))
        properties["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in properties.get("Tags", [])]
        if isinstance(properties.get("KeyPolicy"), dict):
            properties["KeyPolicy"] = json.dumps(properties["KeyPolicy"])
        return original(
            cls, resource_name, {**cloudformation_json, "Properties": properties}, account_id, region_name, **kwargs
        )

    models.Key.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[assignment]


def _get_stack_output() -> None:
    from moto.cloudformation import cloudformation_backends, parsing
    from moto.cloudformation.exceptions import ValidationError

    original = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::GetStackOutput" in resource_json:
            arguments = original(resource_json["Fn::GetStackOutput"], resources_map)
            region = arguments.get("Region") or resources_map._region_name
            backend = cloudformation_backends[resources_map._account_id][region]
            stack = backend.get_stack(arguments["StackName"])  # raises ValidationError like CloudFormation
            output = stack.output_map.get(arguments["OutputName"])
            if output is None:
                raise ValidationError(arguments["StackName"], f"Output {arguments['OutputName']} does not exist")
            return output.value
        return original(resource_json, resources_map)

    # parsing.clean_json calls itself through the module global, so nested intrinsics resolve here too.
    parsing.clean_json = clean_json


def _after_create(model: Any, apply: Any) -> None:
    """Wrap ``model.create_from_cloudformation_json`` to call ``apply(resource, properties, account, region)``."""
    original = model.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        resource = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        apply(resource, cloudformation_json.get("Properties", {}), account_id, region_name)
        return resource

    model.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def _ignored_properties() -> None:
    from moto.ec2.models.subnets import Subnet
    from moto.kinesis.models import Stream, kinesis_backends
    from moto.logs.models import LogGroup
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    def stream(resource: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        encryption = properties.get("StreamEncryption")
        if encryption:
            kinesis_backends[account_id][region_name].start_stream_encryption(
                stream_arn=None,
                stream_name=resource.stream_name,
                encryption_type=encryption["EncryptionType"],
                key_id=encryption["KeyId"],
            )

    def bucket(resource: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        backend = s3_backends[account_id][get_partition(region_name)]
        if "VersioningConfiguration" in properties:
            backend.put_bucket_versioning(resource.name, properties["VersioningConfiguration"]["Status"])
        if "PublicAccessBlockConfiguration" in properties:
            backend.put_public_access_block(resource.name, properties["PublicAccessBlockConfiguration"])

    def log_group(resource: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        if "KmsKeyId" in properties:
            resource.kms_key_id = properties["KmsKeyId"]

    def subnet(resource: Any, properties: dict[str, Any], account_id: str, region_name: str) -> None:
        if "MapPublicIpOnLaunch" in properties:
            resource.map_public_ip_on_launch = str(properties["MapPublicIpOnLaunch"]).lower() == "true"

    for model, apply in ((Stream, stream), (FakeBucket, bucket), (LogGroup, log_group), (Subnet, subnet)):
        _after_create(model, apply)


def _sagemaker_endpoint_name() -> None:
    from moto.sagemaker.models import FakeEndpoint

    FakeEndpoint.cloudformation_name_type = staticmethod(lambda: "EndpointName")  # type: ignore[method-assign]


def _stub_unsupported_types() -> None:
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    class NotEmulated(CloudFormationModel):
        # moto's model registry files every model under the service named in its module path.
        __module__ = "moto.cloudformation.not_emulated"

        def __init__(self, physical_resource_id: str, arn: str) -> None:
            self.physical_resource_id = physical_resource_id
            self._arn = arn

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "Moto::Local::NotEmulated"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return True

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return f"{self._arn}/{attribute_name}"

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
        ) -> NotEmulated:
            logical_id = kwargs["LogicalId"]
            arn = f"arn:aws:{NOT_EMULATED}:{region_name}:{account_id}:{logical_id}"
            return cls(f"{NOT_EMULATED}-{logical_id}", arn)

        @classmethod
        def update_from_cloudformation_json(  # type: ignore[override]
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: Any,
            account_id: str,
            region_name: str,
        ) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
        ) -> None:
            return None

    original = parsing.resource_class_from_type

    def resource_class_from_type(resource_type: str) -> Any:
        found = original(resource_type)
        if found is None and resource_type not in parsing.NULL_MODELS:
            return NotEmulated
        return found

    parsing.resource_class_from_type = resource_class_from_type


def _custom_resources_without_lambda() -> None:
    from moto.cloudformation import cloudformation_backends
    from moto.cloudformation.custom_model import CustomModel

    def create_from_cloudformation_json(
        cls: type, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> CustomModel:
        resource = CustomModel(region_name, "stub", kwargs["LogicalId"], f"{NOT_EMULATED}-{kwargs['LogicalId']}")
        stack = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
        stack.add_custom_resource(resource)
        resource.set_data({})  # completed, no attributes: nothing ran
        return resource

    CustomModel.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)  # type: ignore[assignment]


FIXES = (
    _kms_key_cloudformation_tags,
    _get_stack_output,
    _ignored_properties,
    _sagemaker_endpoint_name,
    _stub_unsupported_types,
    _custom_resources_without_lambda,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    for fix in FIXES:
        fix()
    from moto.server import main as moto_server

    # Loopback only: the emulator accepts any credentials, so it must never listen on a network interface.
    moto_server(["--host", "127.0.0.1", "--port", str(args.port)])


if __name__ == "__main__":
    main()
