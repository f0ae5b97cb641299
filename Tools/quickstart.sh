#!/usr/bin/env bash
# The main job, end to end in a terminal: enroll a user's authenticator app.
# Installs what it needs, builds `enroll`, requests a secret (QR code shown), computes the
# code an authenticator app would show (oathtool stands in for the phone), confirms it and
# shows the status. Always on its own files, ./quickstart.sqlite and ./quickstart.key (it removes
# the user it enrolls first, so that it can run again): ENROLL_DB and ENROLL_KEY_FILE are ignored,
# so a database of real users they may name is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
Tools/install-deps.sh --build
[ -x .build/debug/enroll ] || echo "Building enroll (the first build fetches and compiles its packages: a few minutes)..." >&2
swift build --product enroll >/dev/null
enroll=".build/debug/enroll"
if [ -n "${ENROLL_DB:-}${ENROLL_KEY_FILE:-}" ]; then
    echo "note: ENROLL_DB/ENROLL_KEY_FILE are set; the quick start uses its own files and leaves yours alone" >&2
fi
export ENROLL_DB="$PWD/quickstart.sqlite" ENROLL_KEY_FILE="$PWD/quickstart.key"
user="${1:-alice@example.com}"

"$enroll" remove "$user" >/dev/null 2>&1 || true
echo "== enroll request $user --issuer 'Example Corp'   (the \"+\" button)"
"$enroll" request "$user" --issuer "Example Corp"
uri=$("$enroll" reveal "$user" --format uri)
secret=$(sed -E 's/.*[?&]secret=([A-Z2-7]+).*/\1/' <<<"$uri")
code=$(oathtool --totp -b "$secret")
echo
echo "== the authenticator app shows $code; enroll confirm $user $code   (Verify)"
"$enroll" confirm "$user" "$code"
echo
echo "== enroll status $user"
"$enroll" status "$user"
echo
echo "The binary is $enroll (not on PATH). Go on by hand, on the same files:"
printf '  %s history %q --db %q\n' "$enroll" "$user" "$ENROLL_DB"
echo "  $enroll --help"
