#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmark's smoke run below needs its peers: say so now, not after the whole suite.
Tools/benchmark.sh --check-peers
Tools/install-deps.sh
swift build --build-tests
# Two runs: the HTTP server tests serve from inside the test process, on the same two-core pool of
# threads as the tests that wait for child processes; in one run, those waits starved the
# in-process servers for minutes (a 413's close was seen 20 s late). Alone they take seconds.
swift test --skip-build --skip EnrollmentServerTests
swift test --skip-build --filter EnrollmentServerTests
# The benchmark's smoke run (tiny sizes, debug build, no goals judged): keeps it from rotting.
Tools/benchmark.sh --smoke >/dev/null
# The Authenticator App page in headless Chromium against a real `enroll serve`.
Tools/browser-test.sh
# About a minute of libFuzzer over the event, fixture and export-line decoders and the command
# line (its own scratch path, .build-fuzz); fails if anything crashes (the input lands in Fuzz/crashes).
Tools/fuzz.sh 60 >/dev/null 2>&1 || { echo "fuzzing found a crash: see Fuzz/crashes and run Tools/fuzz.sh" >&2; exit 1; }
