"""KMS keys and the alarm topic of an environment."""
