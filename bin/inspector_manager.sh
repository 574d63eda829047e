#!/usr/bin/env bash
# The inspector manager: the project inventory into spaceman and inspector-YYYYMMDD.tsv.
# Runs `humgen-storage manage inspect`: the newest complete set of inputs, unless that date is
# already done (exit 0); exit 1 when the crawler has not delivered within max_days_ago
# days; exit 0 when another run holds the lock. cron/inspector_cron.sh submits this with bsub.
# Arguments go through, e.g. --config FILE (default: $HUMGEN_STORAGE_CONFIG) or -v.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
exec "$here/humgen_storage.sh" manage inspect "$@"
