# shellcheck shell=bash
# Makes sure a Prometheus server binary is here for the metric source's tests
# (internal/metrics), which start their own servers on loopback, and exports
# PROMOTE_PROMETHEUS with its path. Sourced by .ci/run (it also works sourced
# by hand: `source .ci/prometheus.sh`).
#
# A PROMOTE_PROMETHEUS already set is used as it is. Otherwise prometheus on
# PATH, and without one Debian's prometheus package is installed. Its service
# is not started: the tests need none, and a daemon on :9090 would outlive
# the run. So during the install a policy-rc.d refuses service starts, unless
# the machine already has one.

if [ -n "${PROMOTE_PROMETHEUS:-}" ]; then
  echo "using the Prometheus of PROMOTE_PROMETHEUS: $PROMOTE_PROMETHEUS"
  return 0
fi

if ! command -v prometheus >/dev/null 2>&1; then
  echo "no prometheus: installing it with apt-get"
  promote_prom_sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      promote_prom_sudo="sudo"
    else
      echo "cannot install Prometheus: not root and no password-less sudo" >&2
      return 1
    fi
  fi
  promote_prom_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    promote_prom_policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# Promote CI: no service starts while installing Prometheus.\nexit 101\n' |
      $promote_prom_sudo tee "$promote_prom_policy" >/dev/null
    $promote_prom_sudo chmod 755 "$promote_prom_policy"
  fi
  promote_prom_rc=0
  $promote_prom_sudo apt-get update -qq &&
    $promote_prom_sudo env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends prometheus >/dev/null || promote_prom_rc=$?
  if [ -n "$promote_prom_policy" ]; then
    $promote_prom_sudo rm -f "$promote_prom_policy"
  fi
  if [ "$promote_prom_rc" != 0 ]; then
    echo "installing Prometheus failed" >&2
    return 1
  fi
fi

PROMOTE_PROMETHEUS=$(command -v prometheus) || {
  echo "Prometheus installed, but prometheus is not on PATH" >&2
  return 1
}
export PROMOTE_PROMETHEUS
"$PROMOTE_PROMETHEUS" --version 2>&1 | head -n 1
