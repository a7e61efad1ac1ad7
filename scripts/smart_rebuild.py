#!/usr/bin/env python
"""TwinSelf's rebuild command, kept so its docs keep working: same as `twinself rebuild`.

Example:
    python scripts/smart_rebuild.py --dry-run
    python scripts/smart_rebuild.py --force
    python scripts/smart_rebuild.py --create-version
"""

import sys

from twinself.cli.app import app

if __name__ == "__main__":
    app(args=["rebuild", *sys.argv[1:]], prog_name="smart_rebuild.py")
