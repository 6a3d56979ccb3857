"""Pure domain: event schema, instance families, image registries, Firehose layout, config base. No CDK."""
