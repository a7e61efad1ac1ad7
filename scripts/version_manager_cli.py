#!/usr/bin/env python
"""TwinSelf's version manager, kept so its docs keep working: same as `twinself versions`.

Example:
    python scripts/version_manager_cli.py list
    python scripts/version_manager_cli.py rollback v1_20261127_120000
    python scripts/version_manager_cli.py diff v1_20261127_120000 v2_20261127_130000
    python scripts/version_manager_cli.py cleanup --keep 3
"""

import sys

from twinself.cli.app import app

if __name__ == "__main__":
    app(args=["versions", *sys.argv[1:]], prog_name="version_manager_cli.py")
