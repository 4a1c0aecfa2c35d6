#!/usr/bin/env bash
# A stand-in for sbatch/qsub: runs Snakemake's job script in the background and prints a job id.
# Exit code of the job is left in $CSCEVAL_LOCAL_CLUSTER_DIR/<id>.exit for status.sh.
set -euo pipefail
jobscript="${!#}"
dir="${CSCEVAL_LOCAL_CLUSTER_DIR:?set CSCEVAL_LOCAL_CLUSTER_DIR}"
mkdir -p "$dir"
id="job$(date +%s%N)$RANDOM"
nohup bash -c 'bash "$1" > "$2/$3.log" 2>&1; echo $? > "$2/$3.exit"' _ "$jobscript" "$dir" "$id" > /dev/null 2>&1 &
echo "$id"
