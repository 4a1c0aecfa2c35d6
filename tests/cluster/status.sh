#!/usr/bin/env bash
# A stand-in for sacct/qstat: prints running, success or failed for a job id from submit.sh.
set -euo pipefail
dir="${CSCEVAL_LOCAL_CLUSTER_DIR:?set CSCEVAL_LOCAL_CLUSTER_DIR}"
exit_file="$dir/$1.exit"
if [ ! -f "$exit_file" ]; then echo running
elif [ "$(cat "$exit_file")" = "0" ]; then echo success
else echo failed
fi
