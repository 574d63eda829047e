#!/usr/bin/env bash
# One element of the report's per-volume LSF job array (cron/report_cron.sh --array):
# `humgen-storage lsf stage` stages the $LSB_JOBINDEX-th volume (1-based) for --date,
# then exits; the finaliser (`humgen-storage report --finalise --date D`) loads them all.
#   report_stage.sh [--config FILE] [-v] [--volumes 118,115,...] --date YYYY-MM-DD
# --volumes is the list the index counts in, as the cron script saw it when it
# submitted; without it, the index counts in the configuration's [volumes] report.
# --workers N goes on to `humgen-storage report --stage-only --volume V` with --date.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/humgen_storage.sh" lsf stage "$@"
