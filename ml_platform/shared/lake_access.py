"""Least-privilege access to lake buckets and catalog tables, including the KMS side: the one place every S3 +
KMS permission of the project is written.

KMS use is limited to calls S3 (or Glue) makes on the principal's behalf in the bucket's region
(``kms:ViaService``) and to encryption contexts of the bucket itself. With an S3 Bucket Key, S3 asks KMS with
the **bucket** ARN as encryption context; without one, with the object ARN ("If your existing policies use your
object ARN as the encryption context ... these policies won't work with an S3 Bucket Key. S3 Bucket Keys use the
bucket ARN as encryption context", S3 User Guide, "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys").
:func:`kms_via_s3` allows both, so a grant keeps working whichever the bucket uses.

Two forms of every grant:

* ``*_statements`` return policy statements for a customer-managed policy (the platform's own roles carry no
  inline policy: HIPAA/NIST/PCI IAMNoInlinePolicy);
* ``grant_*`` add the same statements to any grantee (for consumers outside the platform).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


@dataclass(frozen=True)
class TableRef:
    """Names and ARNs of a catalog table, for consumers that need them (e.g. Firehose's schema
    configuration, IAM policies) without typing ARNs by hand."""

    catalog_id: str
    database_name: str
    table_name: str
    region: str
    partition: str
    location: str
    """``s3://bucket/prefix/`` of the table's data."""

    @classmethod
    def of(cls, scope: Construct, *, database_name: str, table_name: str, location: str) -> TableRef:
        """A table of the catalog of ``scope``'s stack (its account, region and partition)."""
        stack = Stack.of(scope)
        return cls(
            catalog_id=stack.account,
            database_name=database_name,
            table_name=table_name,
            region=stack.region,
            partition=stack.partition,
            location=location,
        )

    @property
    def catalog_arn(self) -> str:
        return f"arn:{self.partition}:glue:{self.region}:{self.catalog_id}:catalog"

    @property
    def database_arn(self) -> str:
        return f"arn:{self.partition}:glue:{self.region}:{self.catalog_id}:database/{self.database_name}"

    @property
    def table_arn(self) -> str:
        return f"arn:{self.partition}:glue:{self.region}:{self.catalog_id}:table/{self.database_name}/{self.table_name}"

    @property
    def arns(self) -> list[str]:
        """Catalog, database and table: the resources a Glue table read is authorized against."""
        return [self.catalog_arn, self.database_arn, self.table_arn]


# S3 needs both to write SSE-KMS objects: GenerateDataKey for the data key, Decrypt to complete a multipart
# upload ("the requester must have permission to the kms:Decrypt and kms:GenerateDataKey actions", S3 User Guide,
# "Multipart upload API and permissions").
KMS_WRITE_ACTIONS: tuple[str, ...] = ("kms:GenerateDataKey", "kms:Decrypt")
KMS_READ_ACTIONS: tuple[str, ...] = ("kms:Decrypt",)


def kms_via_s3(bucket: s3.IBucket) -> dict[str, dict[str, object]]:
    """Conditions of a KMS grant that S3 uses for objects of ``bucket`` on the principal's behalf."""
    return {
        "StringEquals": {"kms:ViaService": f"s3.{Stack.of(bucket).region}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket.bucket_arn, bucket.arn_for_objects("*")]},
    }


def kms_statement(
    *, sid: str, keys: Sequence[kms.IKey], bucket: s3.IBucket, actions: Sequence[str] = KMS_READ_ACTIONS
) -> iam.PolicyStatement:
    """``actions`` on ``keys``, only when S3 calls KMS for objects of ``bucket``."""
    return iam.PolicyStatement(
        sid=sid, actions=list(actions), resources=[key.key_arn for key in keys], conditions=kms_via_s3(bucket)
    )


def _check_prefix(prefix: str) -> None:
    if prefix.startswith("/") or (prefix and not prefix.endswith("/")):
        raise ValueError(f"prefix {prefix!r} must be '' or a relative key prefix ending with '/'")


def object_read_statements(
    *,
    sid: str,
    bucket: s3.IBucket,
    keys: Sequence[kms.IKey],
    prefixes: Sequence[str] = ("",),
    list_objects: bool = True,
) -> list[iam.PolicyStatement]:
    """Read objects under ``prefixes`` (``''``: the whole bucket), list only those prefixes (``list_objects``),
    decrypt with ``keys`` via S3 (none: objects are not KMS-encrypted with a key the principal must name).

    Statement ids: ``<sid>Objects``, ``<sid>List``, ``<sid>Decrypt``.
    """
    for prefix in prefixes:
        _check_prefix(prefix)
    statements = [
        iam.PolicyStatement(
            sid=f"{sid}Objects",
            actions=["s3:GetObject"],
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
        )
    ]
    if list_objects:
        listed = [pattern for prefix in prefixes if prefix for pattern in (prefix, f"{prefix}*")]
        statements.append(
            iam.PolicyStatement(
                sid=f"{sid}List",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": listed}} if "" not in prefixes else None,
            )
        )
    if keys:
        statements.append(kms_statement(sid=f"{sid}Decrypt", keys=keys, bucket=bucket))
    return statements


def object_write_statements(
    *,
    sid: str,
    bucket: s3.IBucket,
    keys: Sequence[kms.IKey],
    prefixes: Sequence[str],
    read_back: bool = False,
    delete: bool = False,
) -> list[iam.PolicyStatement]:
    """Write (incl. multipart uploads) objects under ``prefixes`` only, with data keys from ``keys`` via S3.

    ``read_back`` adds ``s3:GetObject`` on the same prefixes and listing of the bucket (Firehose's S3 destination
    grant lists both); ``delete`` adds ``s3:DeleteObject`` on the same prefixes (a Glue table optimizer expiring
    files, Spark's commit protocol). Statement ids: ``<sid>Objects``, ``<sid>Bucket``, ``<sid>Encrypt``.
    """
    if not prefixes:
        raise ValueError(f"{sid}: name at least one prefix")
    for prefix in prefixes:
        _check_prefix(prefix)
    object_actions = [
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        *(["s3:GetObject"] if read_back else []),
        *(["s3:DeleteObject"] if delete else []),
    ]
    bucket_actions = [
        "s3:GetBucketLocation",
        "s3:ListBucketMultipartUploads",
        *(["s3:ListBucket"] if read_back else []),
    ]
    return [
        iam.PolicyStatement(
            sid=f"{sid}Objects",
            actions=object_actions,
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
        ),
        iam.PolicyStatement(sid=f"{sid}Bucket", actions=bucket_actions, resources=[bucket.bucket_arn]),
        kms_statement(sid=f"{sid}Encrypt", keys=keys, bucket=bucket, actions=KMS_WRITE_ACTIONS),
    ]


def table_read_statements(*, sid: str, table: TableRef, catalog_key: kms.IKey | None) -> list[iam.PolicyStatement]:
    """Read a catalog table's definition (what Firehose's Parquet conversion and Athena need) and, when the catalog
    is encrypted, decrypt it via Glue."""
    statements = [
        iam.PolicyStatement(
            sid=f"{sid}Definition",
            actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
            resources=table.arns,
        )
    ]
    if catalog_key is not None:
        statements.append(
            iam.PolicyStatement(
                sid=f"{sid}DecryptCatalog",
                actions=["kms:Decrypt"],
                resources=[catalog_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"glue.{table.region}.amazonaws.com"}},
            )
        )
    return statements


def athena_query_statements(
    *,
    workgroup_arn: str,
    tables: Sequence[tuple[TableRef, s3.IBucket, str]],
    results_bucket: s3.IBucket,
    results_prefix: str,
    key: kms.IKey,
    catalog_key: kms.IKey | None,
) -> list[iam.PolicyStatement]:
    """Run queries in one workgroup over ``tables`` (each with its bucket and data prefix): Athena reads the
    catalog and the data, and writes the results, with the caller's own permissions ("Athena uses the
    permissions of the principal who runs the query to access Amazon S3", Athena User Guide, "Access to Amazon S3
    from Athena"; "Identity and access management in Athena"; SSE-KMS results need kms:GenerateDataKey and
    kms:Decrypt, "Encrypting Athena query results stored in Amazon S3").
    """
    statements = [
        iam.PolicyStatement(
            sid="QueryInTheWorkgroup",
            actions=[
                "athena:StartQueryExecution",
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:StopQueryExecution",
                "athena:GetWorkGroup",
            ],
            resources=[workgroup_arn],
        ),
        iam.PolicyStatement(
            sid="ReadTheTables",
            actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartitions", "glue:GetPartition"],
            resources=sorted({arn for table, _, _ in tables for arn in table.arns}),
        ),
    ]
    if catalog_key is not None:
        statements += table_read_statements(sid="Catalog", table=tables[0][0], catalog_key=catalog_key)[1:]
    by_bucket: dict[str, tuple[s3.IBucket, list[str]]] = {}
    for _, bucket, prefix in tables:
        by_bucket.setdefault(bucket.node.path, (bucket, []))[1].append(prefix)
    for index, (bucket, prefixes) in enumerate(by_bucket.values()):
        statements += object_read_statements(sid=f"TableData{index}", bucket=bucket, keys=[key], prefixes=prefixes)
    statements += object_write_statements(
        sid="Results", bucket=results_bucket, keys=[key], prefixes=[results_prefix], read_back=True
    )
    return statements


# ---------------------------------------------------------------------------------------- grants to any grantee
def grant(grantee: iam.IGrantable, statements: Sequence[iam.PolicyStatement]) -> iam.Grant:
    """Add ``statements`` to ``grantee``'s policy; one :class:`~aws_cdk.aws_iam.Grant` for all of them."""
    result: iam.Grant | None = None
    for statement in statements:
        added = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=statement.actions,
            resource_arns=statement.resources,
            conditions=statement.conditions or None,
        )
        result = added if result is None else result.combine(added)
    assert result is not None
    return result


def grant_object_read(grantee: iam.IGrantable, *, bucket: s3.IBucket, key: kms.IKey, prefix: str = "") -> iam.Grant:
    """Read objects under ``prefix`` (``''``: the whole bucket) and list only that prefix; decrypt via S3."""
    return grant(grantee, object_read_statements(sid="Read", bucket=bucket, keys=[key], prefixes=[prefix]))


def grant_object_write(
    grantee: iam.IGrantable, *, bucket: s3.IBucket, key: kms.IKey, prefixes: Sequence[str]
) -> iam.Grant:
    """Write (incl. multipart uploads) objects under ``prefixes`` only; generate data keys via S3."""
    return grant(grantee, object_write_statements(sid="Write", bucket=bucket, keys=[key], prefixes=prefixes))


def grant_table_read(grantee: iam.IGrantable, *, table: TableRef, catalog_key: kms.IKey | None) -> iam.Grant:
    """Read a catalog table's definition and, when the catalog is encrypted, decrypt it via Glue."""
    return grant(grantee, table_read_statements(sid="Table", table=table, catalog_key=catalog_key))
