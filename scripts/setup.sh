#!/usr/bin/env bash
# Installs the Debian packages torc needs to build, test and benchmark, when they are missing.
# Usage: scripts/setup.sh [--baselines]   (--baselines adds Open MPI, Gloo, matplotlib and iperf3 for perf/)
set -euo pipefail

pkgs=(cmake g++ pkg-config make libucx-dev ucx-utils libhwloc-dev hwloc libibverbs-dev
      libgtest-dev libgmock-dev libbenchmark-dev iproute2 procps)
if [[ "${1:-}" == "--baselines" ]]; then
  pkgs+=(openmpi-bin libopenmpi-dev libgloo-dev python3-matplotlib iperf3)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
