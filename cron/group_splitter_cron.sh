#!/usr/bin/env bash
# What crontab runs for the group splitter: `humgen-storage submit split` submits
# bin/group_splitter_manager.sh with bsub, or runs it here with --local or when bsub is not on PATH.
# Usage: group_splitter_cron.sh [--config FILE] [--local]   (--help for more)
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../bin/humgen_storage.sh" submit split "$@"
