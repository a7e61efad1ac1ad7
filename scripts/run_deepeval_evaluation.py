#!/usr/bin/env python
"""TwinSelf's evaluation script, kept so its docs keep working: same as `twinself evaluate`.

Example:
    python scripts/run_deepeval_evaluation.py "What are your skills?" \
        "I am proficient in Python..." "Context from retrieval" "mlflow_run_id"
    python scripts/run_deepeval_evaluation.py test test test test
"""

import sys

from twinself.cli.app import app

if __name__ == "__main__":
    app(args=["evaluate", *sys.argv[1:]], prog_name="run_deepeval_evaluation.py")
