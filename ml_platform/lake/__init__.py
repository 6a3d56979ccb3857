"""The encrypted S3 lake, its Glue catalog, crawler and Athena workgroup."""
