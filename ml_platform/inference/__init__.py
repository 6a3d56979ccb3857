"""SageMaker endpoints with guardrails, autoscaling, data capture, alarms and Model Monitor."""
