#!/usr/bin/env bash
# Install patchforcing into ./.venv (and Fashion-MNIST from Debian, the emoji from npm, where possible).
#   bash scripts/setup.sh          the library and CLI (with the viewer's web packages)
#   bash scripts/setup.sh --test   plus the test dependencies (and Debian's chromium for the browser test)
# Without apt-get or npm (another Linux, macOS) each optional download is printed with its URL and
# the variable to point at it; sampling from the shipped models needs none of them:
# `pip install torch==2.13.0 && pip install -e .` (or the wheel, `python -m build`) is enough.
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
  fm_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
  echo "note: Fashion-MNIST is not installed (training on it needs it). Without apt-get, download" >&2
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    echo "      $fm_url/$f.gz" >&2
  done
  echo "      into one folder DIR (keep the .gz names) and set PATCHFORCING_FASHION_MNIST=DIR (or pass --data-dir DIR);" >&2
  echo "      with apt-get: sudo apt-get install dataset-fashion-mnist." >&2
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
    echo "note: no chromium / chromedriver, so the browser test will be skipped. It runs Debian's paths" >&2
    echo "      /usr/bin/chromium and /usr/bin/chromedriver (sudo apt-get install chromium chromium-driver); elsewhere" >&2
    echo "      install Chromium and the matching chromedriver and link them to those two paths." >&2
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
  emoji_tgz="emoji-datasource-google-16.0.0.tgz"
  echo "note: npm is missing, so the emoji data set is not installed ($emoji_note). Download" >&2
  echo "      https://registry.npmjs.org/emoji-datasource-google/-/$emoji_tgz (74 MB), then run" >&2
  echo "      .venv/bin/python -m patchforcing.data.emoji install --tarball $emoji_tgz --data-dir $emoji_dir" >&2
  echo "      (another --data-dir: set PATCHFORCING_EMOJI to it)." >&2
fi

echo "installed: $(.venv/bin/patchforcing --version 2>/dev/null || echo patchforcing) in $(pwd)/.venv"
