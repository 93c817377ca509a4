#!/usr/bin/env bash
# schedule_export.sh - `kmsync schedule export` for cron, systemd, Airflow,
# DolphinScheduler and Argo, checked against kmsync's own calendar by
# tests/e2e/check_exports.py (firing times over 60 days with croniter and
# systemd-analyze, the definitions parsed, their shell run on a stub).
# Debian's python3-croniter and python3-yaml import only in /usr/bin/python3,
# so that is the interpreter.  Prints "N passed, M failed"; exits 77 (skip)
# after naming what is missing when a tool is not installed.
# Usage: schedule_export.sh PATH/TO/kmsync   (run by ctest)
set -u
if [ $# -ne 1 ]; then
        echo "usage: $0 PATH/TO/kmsync" >&2
        exit 2
fi
py=/usr/bin/python3
if [ ! -x "$py" ]; then
        echo "SKIP: $py is missing (apt-get install -y python3 python3-croniter python3-yaml systemd)"
        exit 77
fi
exec "$py" "$(dirname "$0")/../e2e/check_exports.py" "$1"
