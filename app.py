#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` (every environment) or `npx cdk synth -c env=prod` (one).

The delivery pipeline stack (`Pipeline`) exists only when `PIPELINE` is configured in ml_platform/environments.py,
and only in a full synth (it deploys every environment). The assembly is ml_platform/app.py.
"""

import sys

from ml_platform.app import main

if __name__ == "__main__":
    sys.exit(main())
