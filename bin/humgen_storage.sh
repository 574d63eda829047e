#!/usr/bin/env bash
# Run the humgen-storage command of this checkout; every other script in bin/ and cron/
# goes through here. The command is, in this order:
#   $HUMGEN_STORAGE_BIN      (the path of a humgen-storage executable; useful under cron,
#                             whose PATH is short)
#   humgen-storage on PATH
#   <checkout>/.venv/bin/humgen-storage  (what `make demo` installs)
#   python3 -m humgen_storage with the checkout on PYTHONPATH
# The configuration is found as always: --config FILE, else $HUMGEN_STORAGE_CONFIG, else
# ./humgen_storage.ini.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
checkout=$(dirname "$here")
# `humgen-storage submit` names the scripts of this folder in what it submits.
export HUMGEN_STORAGE_SCRIPTS="$here"

if [[ -n ${HUMGEN_STORAGE_BIN:-} ]]; then
    exec "$HUMGEN_STORAGE_BIN" "$@"
elif command -v humgen-storage >/dev/null 2>&1; then
    exec humgen-storage "$@"
elif [[ -x $checkout/.venv/bin/humgen-storage ]]; then
    exec "$checkout/.venv/bin/humgen-storage" "$@"
else
    export PYTHONPATH="$checkout${PYTHONPATH:+:$PYTHONPATH}"
    exec python3 -m humgen_storage "$@"
fi
