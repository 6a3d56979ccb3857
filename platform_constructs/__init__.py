"""Reusable, config-free constructs of the ML platform.

Named ``platform_constructs`` (not ``constructs``) so it never shadows the ``constructs`` library that
``from constructs import Construct`` must find. Constructs here take keyword-only props, never read
environment variables or CDK context, and never call AWS.
"""
