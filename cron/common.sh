# shellcheck shell=bash
# Shared by cron/report_cron.sh, cron/inspector_cron.sh and cron/group_splitter_cron.sh
# (sourced, not run): options, settings from the configuration, and the submission of a
# bin/ wrapper with bsub, or a run of it here with --local or when bsub is not on PATH.
#
# Settings (from `humgen-storage lsf settings JOB`): [paths] report_dir; [lsf] group,
# queue, report_memory_mb, report_cores (and the optional per-job keys the README
# lists); the environment wins: HUMGEN_LSF_GROUP, HUMGEN_LSF_QUEUE,
# HUMGEN_LSF_MEMORY_MB, HUMGEN_LSF_CORES. Logs: <report_dir>/<job>-logs/<YYYY-MM-DD>.%J.out
# and .err (%J is LSF's job id; "local-<pid>" for a run here). Only the configuration's
# path goes on a command line; secrets stay in the file or the environment, which LSF
# hands to the job.

CHECKOUT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
HUMGEN_STORAGE_SH=$CHECKOUT/bin/humgen_storage.sh

cron_die() {
    echo "$CRON_NAME: $*" >&2
    exit 1
}

cron_usage() {
    local array_line=""
    if [[ $CRON_JOB == report ]]; then
        array_line="
  --array        stage each report volume in an element of one LSF job array, then
                 load them all with a finaliser that waits for the array"
    fi
    cat <<EOF
usage: $CRON_NAME [--config FILE] [--local]${array_line:+ [--array]}

Submit $CRON_WRAPPER_NAME with bsub (or run it here).

  --config FILE  the configuration (default: \$HUMGEN_STORAGE_CONFIG, else
                 ./humgen_storage.ini)
  --local        run here instead of submitting (also when bsub is not on PATH)$array_line

LSF requests come from [lsf] in the configuration; the environment overrides them:
HUMGEN_LSF_GROUP, HUMGEN_LSF_QUEUE, HUMGEN_LSF_MEMORY_MB, HUMGEN_LSF_CORES.
Logs: <report_dir>/$CRON_JOB-logs/<YYYY-MM-DD>.<job id>.out and .err
EOF
}

# One word of a command line for LSF, which joins the words and runs them with a shell:
# quoted only when it holds a character that shell would interpret.
cron_word() {
    local plain='^[A-Za-z0-9_./:=+,@%-]+$'
    if [[ $1 =~ $plain ]]; then
        printf '%s' "$1"
    else
        local quote="'\\''"
        printf "'%s'" "${1//\'/$quote}"
    fi
}

# cron_submit NAME OUT ERR MEMORY_MB CORES DEPENDENCY COMMAND...
# Submits COMMAND with the group and queue of the settings; DEPENDENCY may be empty.
# Sets CRON_JOB_ID.
cron_submit() {
    local name=$1 out=$2 err=$3 memory=$4 cores=$5 dependency=$6
    shift 6
    local args=(
        -G "$group" -q "$queue" -M "$memory"
        -R "select[mem>$memory] rusage[mem=$memory] span[hosts=1]"
        -n "$cores" -J "$name" -o "$out" -e "$err"
    )
    if [[ -n $dependency ]]; then
        args+=(-w "$dependency")
    fi
    local words=() word
    for word in "$@"; do
        words+=("$(cron_word "$word")")
    done
    local answer status=0
    answer=$(bsub "${args[@]}" "${words[@]}" 2>&1) || status=$?
    if ((status != 0)); then
        cron_die "bsub refused $name (exit status $status): $answer"
    fi
    echo "$answer"
    local pattern='Job <([0-9]+)>'
    CRON_JOB_ID=""
    if [[ $answer =~ $pattern ]]; then
        CRON_JOB_ID=${BASH_REMATCH[1]}
    fi
}

# cron_run_here OUT ERR COMMAND...: run COMMAND with its output appended to the logs.
cron_run_here() {
    local out=$1 err=$2 status=0
    shift 2
    "$@" >>"$out" 2>>"$err" || status=$?
    echo "$CRON_NAME: $(basename "$1") finished with exit status $status; logs: $out $err"
    return "$status"
}

# cron_main JOB WRAPPER [ARGS...]: what each cron script does.
cron_main() {
    CRON_JOB=$1
    CRON_WRAPPER_NAME=$2
    shift 2
    local wrapper=$CHECKOUT/bin/$CRON_WRAPPER_NAME
    local here=0 array=0 config=${HUMGEN_STORAGE_CONFIG:-humgen_storage.ini}
    while (($#)); do
        case $1 in
            --local) here=1 ;;
            --array)
                if [[ $CRON_JOB != report ]]; then
                    echo "$CRON_NAME: --array is for report_cron.sh only" >&2
                    cron_usage >&2
                    exit 2
                fi
                array=1
                ;;
            --config)
                if (($# < 2)); then
                    echo "$CRON_NAME: --config needs a file" >&2
                    cron_usage >&2
                    exit 2
                fi
                config=$2
                shift
                ;;
            --config=*) config=${1#--config=} ;;
            -h | --help)
                cron_usage
                exit 0
                ;;
            *)
                echo "$CRON_NAME: unknown argument: $1" >&2
                cron_usage >&2
                exit 2
                ;;
        esac
        shift
    done
    [[ -f $config ]] || cron_die "configuration file not found: $config (use --config or \$HUMGEN_STORAGE_CONFIG)"
    # Absolute, so the job finds it whatever directory it starts in.
    config="$(cd "$(dirname "$config")" && pwd -P)/$(basename "$config")"

    # One look-up: `humgen-storage lsf settings` prints name=value lines, quoted for eval.
    # shellcheck disable=SC2034 # report_dir: assigned by the eval below, not needed here
    local report_dir log_dir group queue memory_mb cores volumes
    local stage_memory_mb stage_cores set_date done_marker
    local settings what=(lsf settings "$CRON_JOB")
    if ((array)); then
        what+=(--array)
    fi
    settings=$("$HUMGEN_STORAGE_SH" --config "$config" "${what[@]}") ||
        cron_die "nothing submitted (see the error above; configuration: $config)"
    eval "$settings"
    mkdir -p "$log_dir"
    local day
    day=$(date +%F)

    if ((!here)) && ! command -v bsub >/dev/null 2>&1; then
        echo "$CRON_NAME: bsub is not on PATH; running here" >&2
        here=1
    fi

    if ((array)); then
        cron_report_array "$config" "$day" "$here"
        return
    fi
    local command=("$wrapper" --config "$config")
    if ((here)); then
        cron_run_here "$log_dir/$day.local-$$.out" "$log_dir/$day.local-$$.err" "${command[@]}"
    else
        cron_submit "humgen-$CRON_JOB" "$log_dir/$day.%J.out" "$log_dir/$day.%J.err" \
            "$memory_mb" "$cores" "" "${command[@]}"
        echo "$CRON_NAME: logs in $log_dir/$day.${CRON_JOB_ID:-%J}.out and .err"
    fi
}

# The report as per-volume jobs: one LSF job array of `report --stage-only` (element i
# stages the i-th volume of [volumes] report) and a finaliser that waits for all of it.
# Uses the settings cron_main read (report_dir, log_dir, group, queue, memory_mb, cores).
cron_report_array() {
    local config=$1 day=$2 here=$3
    local date=$set_date
    if [[ -e $done_marker ]]; then
        echo "$CRON_NAME: the report of $date is already done ($done_marker exists); nothing to do"
        return 0
    fi
    local stage_list=()
    read -r -a stage_list <<<"$volumes"
    local count=${#stage_list[@]}
    ((count > 0)) || cron_die "[volumes] report lists no volumes"

    # The elements get the volume list as it is now, so that element i stages the i-th
    # volume even if the configuration changes while the array waits in the queue.
    local name="humgen-report-stage-$date"
    local list
    list=$(IFS=,; echo "${stage_list[*]}")
    local stage=("$CHECKOUT/bin/report_stage.sh" --config "$config" --date "$date" --volumes "$list")
    local finalise=("$HUMGEN_STORAGE_SH" --config "$config" report --finalise --date "$date")

    if ((here)); then
        local index failed=0
        for ((index = 1; index <= count; index++)); do
            (
                export LSB_JOBINDEX=$index
                cron_run_here "$log_dir/$day.local-$$.$index.out" "$log_dir/$day.local-$$.$index.err" \
                    "${stage[@]}"
            ) || failed=$((failed + 1))
        done
        if ((failed)); then
            cron_die "$failed of $count volumes were not staged; the finaliser was not run"
        fi
        cron_run_here "$log_dir/$day.local-$$.out" "$log_dir/$day.local-$$.err" "${finalise[@]}"
        return
    fi

    cron_submit "${name}[1-${count}]" "$log_dir/$day.%J.%I.out" "$log_dir/$day.%J.%I.err" \
        "$stage_memory_mb" "$stage_cores" "" "${stage[@]}"
    local array_id=$CRON_JOB_ID
    cron_submit "humgen-report-finalise-$date" "$log_dir/$day.%J.out" "$log_dir/$day.%J.err" \
        "$memory_mb" "$cores" "done($name)" "${finalise[@]}"
    echo "$CRON_NAME: the report of $date: $count volumes in job array ${array_id:-?} ($name)," \
        "finaliser job ${CRON_JOB_ID:-?} after it; logs in $log_dir"
}
