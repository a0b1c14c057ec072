# shellcheck shell=bash
# Makes sure a Chromium is here for the web UI's browser tests
# (internal/webui, internal/browsertest), which drive it headless, and exports
# PROMOTE_CHROMIUM with its path. Sourced by .ci/run (it also works sourced by
# hand: `source .ci/chromium.sh`). With CI set the browser tests fail, rather
# than skip, when they find no Chromium.
#
# A PROMOTE_CHROMIUM already set is used as it is. Otherwise chromium (or
# chromium-browser, google-chrome) on PATH, and without one Debian's chromium
# package is installed, without its recommended packages.

if [ -n "${PROMOTE_CHROMIUM:-}" ]; then
  echo "using the Chromium of PROMOTE_CHROMIUM: $PROMOTE_CHROMIUM"
fi

promote_chromium_find() {
  local name
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

if [ -z "${PROMOTE_CHROMIUM:-}" ] && ! promote_chromium_find >/dev/null; then
  echo "no chromium: installing it with apt-get"
  promote_chromium_sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      promote_chromium_sudo="sudo"
    else
      echo "cannot install Chromium: not root and no password-less sudo" >&2
      return 1
    fi
  fi
  if ! { $promote_chromium_sudo apt-get update -qq &&
    $promote_chromium_sudo env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium </dev/null >/dev/null; }; then
    echo "installing Chromium failed" >&2
    return 1
  fi
fi

if [ -z "${PROMOTE_CHROMIUM:-}" ]; then
  PROMOTE_CHROMIUM=$(promote_chromium_find) || {
    echo "Chromium installed, but chromium is not on PATH" >&2
    return 1
  }
fi
export PROMOTE_CHROMIUM
# Debian's launcher script may print warnings of its own before the version
# (about /dev/shm, for one): show them only when the browser does not start.
promote_chromium_version=$("$PROMOTE_CHROMIUM" --version 2>&1) || {
  echo "$promote_chromium_version" >&2
  echo "$PROMOTE_CHROMIUM does not start" >&2
  return 1
}
echo "$promote_chromium_version" | tail -n 1
