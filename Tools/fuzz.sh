#!/usr/bin/env bash
# Fuzzes the event decoder, the command line, the fixture decoder and the export-line decoder
# with libFuzzer: builds `enroll` with -sanitize=fuzzer (entry point LLVMFuzzerTestOneInput in
# Sources/enroll/FuzzerEntryPoints.swift; the targets are in Sources/EnrollCommandLine/FuzzTargets.swift) in its own scratch path, then runs it for SECONDS (default 60).
#
#   Tools/fuzz.sh [SECONDS] [extra libFuzzer flags…]
#
# Seeds are in Fuzz/corpus (kept in git); what the fuzzer finds goes to .build-fuzz/corpus.
# A crash is written to Fuzz/crashes/ and the script fails: keep the file there (the test suite
# replays every file in Fuzz/crashes and Fuzz/corpus), then fix the bug.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
swift build --product enroll --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -DFUZZING >&2
fuzzer=".build-fuzz/debug/enroll"
mkdir -p .build-fuzz/corpus Fuzz/crashes
"$fuzzer" -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix=Fuzz/crashes/ -print_final_stats=1 "$@" .build-fuzz/corpus Fuzz/corpus Fuzz/crashes
