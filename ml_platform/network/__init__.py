"""The isolated VPC, its flow logs and VPC endpoints."""
