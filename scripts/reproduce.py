#!/usr/bin/env python3
"""Reproduce the study: run every step of pipeline.yml (same as the `jhw-reproduce` command)."""
import sys

from jeugdhulp_wijken.pipeline import main

if __name__ == "__main__":
    sys.exit(main())
