#!/usr/bin/env bash
# maxcompute.sh - end-to-end runs into the MaxCompute emulator
# (tests/e2e/test_maxcompute.py).
exec python3 "$(dirname "$0")/../e2e/test_maxcompute.py" "$1"
