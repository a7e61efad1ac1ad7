#!/usr/bin/env python
"""Write monitoring-templates/twinself_dashboard.json from twinself.monitoring.dashboard.

Example:
    python scripts/generate_dashboard.py          # (re)write the checked-in dashboard
    python scripts/generate_dashboard.py --check  # exit 1 when the checked-in file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from twinself.monitoring.dashboard import build_dashboard

DASHBOARD = Path(__file__).resolve().parents[1] / "monitoring-templates" / "twinself_dashboard.json"


def render() -> str:
    """The file's exact text: the SDK's key order, two-space indent, a final newline."""
    return json.dumps(build_dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the twinself Grafana dashboard JSON.")
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    parser.add_argument("--output", type=Path, default=DASHBOARD, help="where the JSON goes")
    args = parser.parse_args(argv)
    text = render()
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is stale; run `make dashboard`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
