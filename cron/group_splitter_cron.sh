#!/usr/bin/env bash
# What crontab runs for the group splitter: submits bin/group_splitter_manager.sh
# with bsub, or runs it here with --local or when bsub is not on PATH.
# Usage: group_splitter_cron.sh [--config FILE] [--local]   (--help for more)

set -euo pipefail

CRON_NAME=$(basename "${BASH_SOURCE[0]}")
# shellcheck source=cron/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cron_main split group_splitter_manager.sh "$@"
