#!/usr/bin/env bash
# The Authenticator App page in a real headless Chromium against a real `enroll serve`.
#
# Starts `enroll serve --demo` on a free loopback port with a fresh database in a temp
# directory, runs Tools/browser/myaccount_test.py (selenium, installed into .venv), then stops the
# server with SIGTERM and checks that it exited cleanly and that its log holds no token or secret.
# Usage: Tools/browser-test.sh [--screenshot docs/myaccount.png]
set -euo pipefail
cd "$(dirname "$0")/.."

screenshot=()
if [ "${1:-}" = "--screenshot" ]; then screenshot=(--screenshot "$2"); fi

venv=.venv
if ! "$venv/bin/python" -c "import selenium" 2>/dev/null; then
  python3 -m venv "$venv"
  # 4.52 needs a newer certifi than the package index has.
  "$venv/bin/pip" install --quiet --disable-pip-version-check "selenium>=4.20,<4.52"
fi

# `enroll serve` runs `enroll-server`, built beside `enroll`.
bin="$(swift build --show-bin-path)"
binary="$bin/enroll"
[ -x "$binary" ] || swift build --product enroll
[ -x "$bin/enroll-server" ] || swift build --product enroll-server

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then kill -TERM "$server"; wait "$server" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Starts `enroll serve --demo` with the given options on a free port and a fresh database in
# $work/$1; sets $server and $url.
start_server() {
  local dir="$work/$1"; shift
  mkdir -p "$dir"
  "$binary" serve --demo --port 0 --db "$dir/enrollment.sqlite" --key-file "$dir/enrollment.key" "$@" \
    >"$dir/stdout" 2>>"$work/server.log" &
  server=$!
  for _ in $(seq 1 200); do
    grep -qs '^Open ' "$dir/stdout" && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; echo "enroll serve exited early" >&2; exit 1; }
    sleep 0.1
  done
  url="$(sed -n 's/^Open //p' "$dir/stdout")"
  [ -n "$url" ] || { echo "enroll serve printed no page address" >&2; exit 1; }
  echo "browser test against ${url%%#*}"
}

# Graceful shutdown: SIGTERM, then a clean exit.
stop_server() {
  kill -TERM "$server"
  local exit_code=0
  wait "$server" || exit_code=$?
  server=""
  if [ "$exit_code" -ne 0 ]; then echo "FAILED: enroll serve exited $exit_code after SIGTERM" >&2; status=1; fi
}

# A non-ASCII demo user: the page must show the token's UTF-8 'sub' as it is.
start_server walkthrough --demo-user 'josé'
status=0
SE_OFFLINE=true "$venv/bin/python" Tools/browser/myaccount_test.py "$url" --work "$work" "${screenshot[@]}" || status=$?
stop_server
tokens=("${url##*#token=}")

# Nearly the longest names a server takes: a 256-byte user id and an issuer of 110 'é' give a
# 2 186-byte otpauth URI, a QR code of version 40 (185 modules with its quiet zone), which the
# page must still draw large enough to scan; and 8-digit codes, the widest, whose boxes must
# still fit a phone. SHA256 and a 60-second step, which some apps ignore: a wrong code says so.
issuer="$(printf 'é%.0s' $(seq 1 110))"
start_server dense --demo-user "$(printf 'é%.0s' $(seq 1 128))" --issuer "$issuer" --digits 8 --algorithm SHA256 --period 60
SE_OFFLINE=true "$venv/bin/python" Tools/browser/myaccount_test.py "$url" --work "$work" --dense "$issuer" || status=$?
stop_server
tokens+=("${url##*#token=}")

# The access log has every request, and no token.
for token in "${tokens[@]}"; do
  # -e: a token's signature may begin with '-'.
  if grep -qF -e "$token" "$work/server.log" || grep -qF -e "${token##*.}" "$work/server.log"; then
    echo "FAILED: the server log contains the token" >&2; status=1
  fi
done
if [ -s "$work/secrets.txt" ] && grep -qF -f "$work/secrets.txt" "$work/server.log"; then
  echo "FAILED: the server log contains a secret" >&2; status=1
fi
grep -q 'path=/api/users/v1/me/totp' "$work/server.log" || { echo "FAILED: no access log lines" >&2; status=1; }
exit "$status"
