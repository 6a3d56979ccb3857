"""Building blocks every component uses: encrypted buckets, keys, alarms, the alarm topic, compliance."""
