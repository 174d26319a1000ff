#!/usr/bin/env bash
# Installs the Debian packages procpool needs to build, test and run.
# Does nothing (and needs no network) when they are all present already.
set -euo pipefail

packages=(
  cmake ninja-build g++ make pkg-config
  qt6-base-dev qt6-base-dev-tools libgl-dev
  libqt6svg6   # the SVG icon engine plugin: the monitor's icons are SVG files
  python3
  dpkg-dev file  # the Debian packages (`make package`, ctest package_consumer): dpkg-shlibdeps
  # Workers on other hosts (tst_remote): a real OpenSSH server and client on loopback, and a
  # real one-node Slurm cluster; the tests start them with configuration of their own.
  openssh-server openssh-client
  slurmctld slurmd slurm-client munge
)
# Optional extras: a display server for screenshots and clang for sanitizers/fuzzing.
if [ "${PROCPOOL_DEPS_EXTRA:-}" = "1" ]; then
  packages+=(xvfb xauth clang libclang-rt-14-dev)
fi

# Doxygen for the API reference (`make docs`).
if [ "${PROCPOOL_DEPS_BENCH:-}" = "1" ]; then
  packages+=(qt6-remoteobjects-dev)
fi

if [ "${PROCPOOL_DEPS_DOCS:-}" = "1" ]; then
  packages+=(doxygen)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "procpool: installing missing packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "procpool: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# Installing a daemon's package must not start it system-wide (sshd on port 22, munged): the
# tests start their own. policy-rc.d refuses every start while the packages are installed.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod 755 /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
