#!/usr/bin/env bash
# Fuzzes the event decoder, the command line, the fixture decoder and the export-line decoder
# with libFuzzer: builds `enroll` with -sanitize=fuzzer (entry point LLVMFuzzerTestOneInput in
# Sources/enroll/FuzzerEntryPoints.swift; the targets are in Sources/EnrollCommandLine/FuzzTargets.swift)
# in its own scratch path, then fuzzes each of the four targets for a quarter of SECONDS
# (default 60), one after the other.
#
#   Tools/fuzz.sh [SECONDS] [extra libFuzzer flags…]
#
# One target at a time (ENROLL_FUZZ_TARGET=N): in the debug build the command line's parser takes
# about a thousand times as long per input as the decoders (~10 inputs a second against 10 000 to
# 20 000), and when the four shared one run it took 96% of the time, leaving the decoders a few
# inputs a second.
#
# Seeds are in Fuzz/corpus (kept in git); a file's first byte names its target (modulo 4: 0 the
# event decoder, 1 the command line, 2 the fixture decoder, 3 the export-line decoder) and the
# rest is that target's input. What the fuzzer finds goes to .build-fuzz/corpus-N. A crash (or a
# timeout, or running out of memory) is kept in Fuzz/crashes/ with its first byte set to its
# target, and the script fails: keep the file there (the test suite replays every file in
# Fuzz/crashes and Fuzz/corpus), then fix the bug.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
case "$seconds" in
  '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$seconds' (usage: Tools/fuzz.sh [SECONDS] [libFuzzer flags…])" >&2; exit 2 ;;
esac
swift build --product enroll --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library -Xswiftc -DFUZZING >&2
fuzzer=".build-fuzz/debug/enroll"
mkdir -p Fuzz/crashes
share=$(( seconds / 4 ))
[ "$share" -ge 1 ] || share=1
names=("the event decoder" "the command line" "the fixture decoder" "the export-line decoder")
failed=0
for target in 0 1 2 3; do
  seeds=".build-fuzz/seeds-$target" corpus=".build-fuzz/corpus-$target" found=".build-fuzz/crashes-$target"
  log=".build-fuzz/fuzz-$target.log"
  rm -rf "$seeds" "$found"
  mkdir -p "$seeds" "$corpus" "$found"
  # This target's inputs among the seeds and the kept crashes.
  for file in Fuzz/corpus/* Fuzz/crashes/*; do
    [ -f "$file" ] || continue
    first=$(head -c 1 "$file" | od -An -tu1 | tr -d ' ')
    if [ -n "$first" ] && [ $(( first % 4 )) -eq "$target" ]; then cp "$file" "$seeds/"; fi
  done
  echo "fuzz.sh: ${names[$target]} (target $target) for $share s" >&2
  if ! SWIFT_BACKTRACE=enable=no ENROLL_FUZZ_TARGET=$target "$fuzzer" -max_total_time="$share" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$found/" -print_final_stats=1 "$@" "$corpus" "$seeds" > "$log" 2>&1; then
    failed=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  echo "fuzz.sh: ${names[$target]}: ${runs:-?} inputs, ${rate:-?} a second (libFuzzer's output: $log)" >&2
  for file in "$found"/crash-* "$found"/timeout-* "$found"/oom-* "$found"/leak-*; do
    [ -f "$file" ] || continue
    kept="Fuzz/crashes/$(basename "$file")"
    { printf "\\$(printf '%03o' "$target")"; tail -c +2 "$file"; } > "$kept"
    echo "fuzz.sh: ${names[$target]} failed on an input, kept as $kept (replay: ENROLL_FUZZ_TARGET=$target $fuzzer $kept)" >&2
    failed=1
  done
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz.sh: a target failed: see the lines above and its log" >&2
fi
exit "$failed"
