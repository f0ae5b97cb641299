#!/usr/bin/env bash
# The benchmark, in one command: builds the peers from ../shared/peers with cc into a temporary
# directory, sets up the pinned Python peers in .venv, builds in release and runs every figure
# beside its baseline. Prints a table (ratios first) and writes BENCHMARKS.json.
#
#   Tools/benchmark.sh                 the full run (3 minutes when the machine is quiet, 15 when busy, on 2 cores)
#   Tools/benchmark.sh --smoke         seconds, tiny sizes, debug build, no goals judged (the Python peers run too)
#   Tools/benchmark.sh --repetitions 1 --users 2000 ...   any option of the benchmark executable (--help lists them)
#   Tools/benchmark.sh --help          this text and the executable's options, without building anything
#
#   Tools/benchmark.sh --check-peers   only checks that the peers' sources are there (Tools/test.sh, first)
#
# The full run (no options) writes BENCHMARKS.json, the JSON of the run BENCHMARKS.md records; a
# run with options writes benchmark-results.json (not kept in git) unless --output says otherwise.
# PEERS_DIR overrides where the peers' sources are (default ../shared/peers, beside the repository).
set -euo pipefail
# Options are checked before minutes of setup and building: each must be one the executable's
# usage names, with its value as the next word. A relative path given to one (--output, --work,
# --peers, --python, --py-peers, --enroll) is the caller's, as PEERS_DIR is: made absolute before
# the script moves to the repository.
known="$(sed -n '/^let usage = """/,/^    """/p' "$(dirname "$0")/benchmark/main.swift" | grep -o -- '--[a-z-]*' | sort -u)"
takes_value=" --peers --python --py-peers --enroll --output --work --repetitions --users --full-users --journal-events --clients "
takes_path=" --peers --python --py-peers --enroll --output --work "
passed=()
check_only=0
while [ $# -gt 0 ]; do
  argument="$1"
  shift
  case "$argument" in
    --help|-h)
      # Where an option may stand (`--output -h` names a file): this text and the executable's.
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
      echo
      echo "Options of the benchmark executable (the script passes --peers, --python, --py-peers, --enroll and --output itself):"
      # The executable's own usage, from its source: one text, and no build needed to read it.
      sed -n '/^let usage = """/,/^    """/{/"""/d;s/^    //;p}' "$(dirname "$0")/benchmark/main.swift"
      exit 0 ;;
    --check-peers) check_only=1; continue ;;
    --*=*)
      echo "benchmark: give ${argument%%=*} its value as the next word ('${argument%%=*} ${argument#*=}'); Tools/benchmark.sh --help lists the options" >&2
      exit 2 ;;
    --*)
      if ! grep -qx -- "$argument" <<<"$known"; then
        echo "benchmark: unknown option '$argument'; Tools/benchmark.sh --help lists the options" >&2
        exit 2
      fi ;;
    *)
      echo "benchmark: '$argument' is not an option, nor an option's value; Tools/benchmark.sh --help lists the options" >&2
      exit 2 ;;
  esac
  passed+=("$argument")
  if [[ "$takes_value" == *" $argument "* ]]; then
    if [ $# -eq 0 ] || [ -z "$1" ] || [[ "$1" == --* ]]; then
      echo "benchmark: $argument needs a value; Tools/benchmark.sh --help lists the options" >&2
      exit 2
    fi
    if [[ "$takes_path" == *" $argument "* ]]; then
      passed+=("$(realpath -m -- "$1")")
    elif [[ "$1" =~ ^[1-9][0-9]*$ ]]; then
      passed+=("$1")
    else
      echo "benchmark: $argument needs a positive whole number, not '$1'" >&2
      exit 2
    fi
    shift
  fi
done
set -- "${passed[@]+"${passed[@]}"}"
# A relative PEERS_DIR is the caller's; the default sits beside the repository.
peers="$(realpath -m "${PEERS_DIR:-$(dirname "$0")/../../shared/peers}")"
cd "$(dirname "$0")/.."
for file in raw_hmac.c raw_sqlite.c py_peers.py; do
  if [ ! -f "$peers/$file" ]; then
    echo "benchmark: $peers/$file is missing; the peers (the team's shared/peers: raw_hmac.c, raw_sqlite.c, py_peers.py) belong in ../shared/peers beside the repository, as CI has them; or set PEERS_DIR to their directory" >&2
    exit 3
  fi
done
[ "$check_only" -eq 1 ] && exit 0

smoke=0
for argument in "$@"; do [ "$argument" = "--smoke" ] && smoke=1; done

# What building and the figures need (the sqlite3 CLI is figure 5's baseline; python3-venv holds the
# Python peers), not the whole test suite's list.
Tools/install-deps.sh --build sqlite3 python3-venv

compiler="${CC:-$(command -v cc || command -v clang || true)}"
if [ -z "$compiler" ]; then
  echo "benchmark: no C compiler (cc or clang) to build the peers; install gcc or set CC" >&2
  exit 3
fi
work="$(mktemp -d --suffix=.enroll-benchmark-peers)"
trap 'rm -rf "$work"' EXIT
"$compiler" -O2 -o "$work/raw_hmac" "$peers/raw_hmac.c" -lcrypto
"$compiler" -O2 -o "$work/raw_sqlite" "$peers/raw_sqlite.c" -lsqlite3

arguments=(--peers "$work")
# The Python peers, pinned as py_peers.py's header says, in a virtual environment (the smoke run
# runs them too, at its tiny sizes, so that their part of the benchmark cannot rot either).
pins=(pyotp==2.12.0 eventsourcing==9.5.6)
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv || { echo "benchmark: cannot create .venv; install python3-venv" >&2; exit 3; }
fi
.venv/bin/pip install --quiet --disable-pip-version-check "${pins[@]}"
arguments+=(--python "$PWD/.venv/bin/python" --py-peers "$peers/py_peers.py")
if [ "$smoke" -eq 1 ]; then
  # The test command has built the debug products already; the smoke run checks that every
  # part of the benchmark still runs, not how fast.
  configuration=debug
  arguments+=(--output "$work/smoke.json")
else
  configuration=release
  # Only the full run replaces the recorded JSON; the options given come after, so an --output
  # among them still wins.
  if [ $# -eq 0 ]; then arguments+=(--output BENCHMARKS.json); else arguments+=(--output benchmark-results.json); fi
fi

swift build -c "$configuration" --product benchmark
swift build -c "$configuration" --product enroll
bin="$(swift build -c "$configuration" --show-bin-path)"
# A release link writes ~200 MB of binaries; the kernel writes them out over the next seconds,
# on the same cores. Measured right then, the first figure (TOTP) came out a third low (16:25
# and 19:46 UTC in BENCHMARKS.md): the figures start once that is on disk.
sync
# The results name the commit measured (-dirty: with changes to the code not committed).
commit=""
if git rev-parse --git-dir >/dev/null 2>&1; then
  commit="$(git rev-parse --short HEAD)"
  [ -n "$(git status --porcelain -- Sources Tools Package.swift)" ] && commit="$commit-dirty"
fi
# Not exec, so that the trap above removes the compiled peers when the run ends. A job a script
# starts in the background ignores Ctrl-C, and bash passes no signal on to the one it waits for:
# INT, TERM and HUP are handed to the benchmark, whose own handling stops its child and removes
# its work directory, and the script waits for that to finish.
BENCHMARK_COMMIT="$commit" "$bin/benchmark" "${arguments[@]}" --enroll "$bin/enroll" "$@" &
child=$!
trap 'kill -INT "$child" 2>/dev/null' INT
trap 'kill -TERM "$child" 2>/dev/null' TERM HUP
status=0
wait "$child" || status=$?
# A trapped signal ends `wait` early: wait on until the benchmark has ended.
while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
exit "$status"
