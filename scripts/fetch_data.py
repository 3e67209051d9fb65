"""Fetch and verify the raw data into data/raw/ (thin wrapper over jeugdhulp_wijken.sources).

Usage: python scripts/fetch_data.py [--mirror DIR] [--raw-dir DIR] [--offline] [--live]
"""
import sys

from jeugdhulp_wijken.sources import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
