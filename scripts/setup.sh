#!/usr/bin/env bash
# Install patchforcing into ./.venv (and Fashion-MNIST from Debian, the emoji from npm, where possible).
#   bash scripts/setup.sh          the library and CLI (with the viewer's web packages)
#   bash scripts/setup.sh --test   plus the test dependencies (and Debian's chromium for the browser test)
set -euo pipefail
cd "$(dirname "$0")/.."

extras="[view]"  # the web packages of `patchforcing view` (small); the test extra includes them
case "${1:-}" in
  "") ;;
  --test) extras="[test]" ;;
  *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

# Fashion-MNIST, the built-in dataset (sampling from the shipped checkpoints works without it).
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  :
elif command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
  as_root=""; [ "$(id -u)" = 0 ] || as_root="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  $as_root apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { $as_root apt-get update -q >/dev/null && $as_root apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
    || echo "note: could not install dataset-fashion-mnist with apt-get; training on it needs it" >&2
else
  echo "note: Fashion-MNIST is not installed. Run 'sudo apt-get install dataset-fashion-mnist', or download the" >&2
  echo "      four *-ubyte.gz files and pass --data-dir DIR (or set PATCHFORCING_FASHION_MNIST=DIR)." >&2
fi

# A headless browser for the viewer's end-to-end test (tests/test_viewer_browser.py, skipped without one).
if [ "$extras" = "[test]" ] && ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
    as_root=""; [ "$(id -u)" = 0 ] || as_root="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    $as_root apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
      || { $as_root apt-get update -q >/dev/null && $as_root apt-get install -y -q chromium chromium-driver >/dev/null; } \
      || echo "note: could not install chromium and chromium-driver with apt-get; the browser test will be skipped" >&2
  else
    echo "note: no chromium / chromedriver (sudo apt-get install chromium chromium-driver); the browser test will be skipped" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch is pinned first so that the resolver never swaps it for a CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".${extras}"
# The colour emoji data set (Noto emoji, from the npm package emoji-datasource-google), where npm is present.
emoji_dir="${PATCHFORCING_EMOJI:-$HOME/.cache/patchforcing/emoji}"
emoji_note="see docs/data.md; --data emoji needs it"
if [ -f "$emoji_dir/emoji.json" ]; then
  :
elif command -v npm >/dev/null; then
  pack_dir="$(mktemp -d)"
  if (cd "$pack_dir" && npm pack --silent emoji-datasource-google@16.0.0 >/dev/null 2>&1) \
    && .venv/bin/python -m patchforcing.data.emoji install \
         --tarball "$pack_dir/emoji-datasource-google-16.0.0.tgz" --data-dir "$emoji_dir" >/dev/null; then
    :
  else
    echo "note: could not install the emoji data set with npm ($emoji_note)" >&2
  fi
  rm -rf "$pack_dir"
else
  echo "note: npm is missing, so the emoji data set is not installed ($emoji_note)" >&2
fi

echo "installed: $(.venv/bin/patchforcing --version 2>/dev/null || echo patchforcing) in $(pwd)/.venv"
