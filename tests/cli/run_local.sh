#!/usr/bin/env bash
# run_local.sh - end-to-end runs on the embedded Kafka into the local
# warehouse, checked against an independent oracle (tests/e2e/).
exec python3 "$(dirname "$0")/../e2e/test_run_local.py" "$1"
