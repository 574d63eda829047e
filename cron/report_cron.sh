#!/usr/bin/env bash
# What crontab runs for the report (group usage): `humgen-storage submit report` submits
# bin/reportmanager.sh with bsub, or runs it here with --local or when bsub is not on PATH.
# With --array: one LSF job array of `humgen-storage report --stage-only` (an element per
# report volume), then `humgen-storage report --finalise`, which waits for the array.
# Usage: report_cron.sh [--config FILE] [--local] [--array]   (--help for more)
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../bin/humgen_storage.sh" submit report "$@"
