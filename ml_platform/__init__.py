"""The ML data and inference platform: one sub-package per component (see docs/architecture.md)."""
