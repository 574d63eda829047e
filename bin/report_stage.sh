#!/usr/bin/env bash
# One element of the report's per-volume LSF job array (cron/report_cron.sh --array):
# stages the $LSB_JOBINDEX-th volume (1-based) for --date, then exits; the finaliser
# (`humgen-storage report --finalise --date D`) loads every staged volume.
#   report_stage.sh [--config FILE] [-v] --date YYYY-MM-DD [--volumes 118,115,...]
# --volumes is the list the index counts in, as the cron script saw it when it
# submitted; without it, the index counts in the configuration's [volumes] report.
# Other arguments go to `humgen-storage report --stage-only --volume V`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
index=${LSB_JOBINDEX:-0}
if [[ ! $index =~ ^[1-9][0-9]*$ ]]; then
    echo "report_stage.sh: \$LSB_JOBINDEX is not set: run me as an element of an LSF job array" >&2
    exit 2
fi

common=() # --config and -v: for the look-up of the volume too, so both read the same file
rest=()
list=""
while (($#)); do
    case $1 in
        --config | --volumes)
            if (($# < 2)); then
                echo "report_stage.sh: $1 needs a value" >&2
                exit 2
            fi
            if [[ $1 == --volumes ]]; then
                list=$2
            else
                common+=("$1" "$2")
            fi
            shift 2
            ;;
        --volumes=*)
            list=${1#--volumes=}
            shift
            ;;
        --config=* | -v | --verbose)
            common+=("$1")
            shift
            ;;
        *)
            rest+=("$1")
            shift
            ;;
    esac
done

if [[ -n $list ]]; then
    IFS=', ' read -r -a volumes <<<"$list"
    if ((index > ${#volumes[@]})); then
        echo "report_stage.sh: array index $index is outside 1-${#volumes[@]} (--volumes $list)" >&2
        exit 1
    fi
    volume=${volumes[index - 1]}
else
    volume=$("$here/humgen_storage.sh" ${common[@]+"${common[@]}"} lsf volume report "$index")
fi
exec "$here/humgen_storage.sh" ${common[@]+"${common[@]}"} report --stage-only --volume "$volume" \
    ${rest[@]+"${rest[@]}"}
