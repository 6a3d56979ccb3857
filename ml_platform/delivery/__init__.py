"""The optional multi-account delivery pipeline and its post-deploy validation."""
