"""Runtime authorization proof: the requests AWS makes for the platform, evaluated offline against every
policy of the synthesized templates with @cloud-copilot/iam-simulate (see docs/testing.md, "What the tests prove")."""
