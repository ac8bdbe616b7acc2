#!/usr/bin/env bash
# Runs fuzz targets one after another, single process each, at low priority, and prints one
# summary line per target: executions, seconds, exec/s, and whether it crashed.
#
#   crates/tandem-fuzz/run.sh [RUNS] [TARGET...]     (default: 10000000 runs, every target)
#   MAX_TIME=SECONDS caps each target's run time as well (libFuzzer -max_total_time).
#   NO_BUILD=1 runs the binaries already built (so that edits elsewhere in the tree do not
#   rebuild or break a long run); otherwise everything is built once first.
set -u
cd "$(dirname "$0")"
runs="${1:-10000000}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(icalendar vcard graph_contact graph_event salesforce_contact salesforce_event)
fi
mkdir -p logs
if [ -z "${NO_BUILD:-}" ]; then
    nice -n 10 cargo +nightly fuzz build --fuzz-dir . -O || exit 1
fi
bin=target/x86_64-unknown-linux-gnu/release
for t in "${targets[@]}"; do
    case "$t" in icalendar | vcard) dict=ical.dict ;; *) dict=json.dict ;; esac
    mkdir -p "corpus/$t" "artifacts/$t"
    start=$(date +%s)
    nice -n 10 "$bin/$t" "corpus/$t" "seeds/$t" \
        -runs="$runs" -dict="$dict" -max_len=4096 -timeout=10 -print_final_stats=1 -max_total_time="${MAX_TIME:-0}" \
        -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    echo "$t: rc=$rc executions=${execs:-?} seconds=$secs exec/s=${rate:-?} crash=$(ls "artifacts/$t" | head -1)"
done
