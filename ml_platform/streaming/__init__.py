"""Kinesis -> Firehose (Lambda transform, Parquet, dynamic partitions) -> the raw zone."""
