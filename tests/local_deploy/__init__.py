"""The local-deploy harness (moto server) and the tests that use it."""
