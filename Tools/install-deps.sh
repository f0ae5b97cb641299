#!/usr/bin/env bash
# Installs the Debian packages this project builds and tests with, when any is missing.
# Safe to run repeatedly; needs root (or sudo) only when something must be installed.
#
#   Tools/install-deps.sh            everything the tests use (a headless Chromium among them)
#   Tools/install-deps.sh --build    only what building enroll and the quick start need
#   Tools/install-deps.sh PACKAGE…   everything, and these too
set -euo pipefail

build=(libsqlite3-dev libssl-dev libqrencode-dev pkg-config oathtool)
if [ "${1:-}" = "--build" ]; then
  packages=("${build[@]}")
  shift
else
packages=(
  libsqlite3-dev sqlite3   # the journal (GRDB links the system SQLite) and the tamper tests
  bsdutils                 # script: gives rebuild-projections a terminal in the progress-bar test
  strace                   # injects an I/O error (EIO) into a write in the storage-fault test
  libssl-dev               # OpenSSL 3: HMAC, SHA-256, AES-256-GCM, RAND_bytes
  libqrencode-dev          # QR codes
  oathtool                 # independent TOTP implementation the tests cross-check against
  zbar-tools               # zbarimg: decodes the QR images in the tests
  librsvg2-bin             # rsvg-convert: renders SVG QR codes for zbarimg
  pkg-config
  chromium chromium-driver # the browser test of the Authenticator App page (Tools/browser-test.sh)
  python3-venv             # the browser test's selenium lives in a venv under .venv
  curl openssl             # `enroll serve` process tests: HTTP requests, tokens signed by openssl
  nodejs                   # node --check and a run of the page's script (EnrollmentServerTests)
)
fi
packages+=("$@")

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
