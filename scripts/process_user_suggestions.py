#!/usr/bin/env python
"""TwinSelf's suggestion processor, kept so its docs keep working: `twinself feedback merge`.

Example:
    python scripts/process_user_suggestions.py --dry-run
    python scripts/process_user_suggestions.py --merge --archive
"""

import sys

from twinself.cli.app import app

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--merge"]  # merging is what the command does
    app(args=["feedback", "merge", *args], prog_name="process_user_suggestions.py")
