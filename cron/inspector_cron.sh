#!/usr/bin/env bash
# What crontab runs for the project inspector: `humgen-storage submit inspect` submits
# bin/inspector_manager.sh with bsub, or runs it here with --local or when bsub is not on PATH.
# Usage: inspector_cron.sh [--config FILE] [--local]   (--help for more)
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../bin/humgen_storage.sh" submit inspect "$@"
