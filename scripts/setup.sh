#!/usr/bin/env bash
# Installs the Debian packages torc needs to build, test and benchmark, when they are missing.
# Usage: scripts/setup.sh [--baselines] [--pytorch]
#   --baselines  adds Open MPI, Gloo, matplotlib and iperf3 for perf/
#   --pytorch    adds PyTorch (Debian's 1.13), libtorch and pybind11 for the torch.distributed
#                backend; if they cannot be installed, says so and goes on (its tests then skip)
set -euo pipefail

pkgs=(cmake g++ pkg-config make libucx-dev ucx-utils libhwloc-dev hwloc libibverbs-dev
      libgtest-dev libgmock-dev libbenchmark-dev iproute2 procps)
optional=()
for arg in "$@"; do
  case "$arg" in
    --baselines) pkgs+=(openmpi-bin libopenmpi-dev libgloo-dev python3-matplotlib iperf3) ;;
    --pytorch) optional+=(python3-torch libtorch-dev pybind11-dev python3-dev) ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
updated=0

# Prints the packages of "$@" that are not installed.
missing_of() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

install() {
  if [[ $updated -eq 0 ]]; then
    "${sudo_cmd[@]}" apt-get update -qq
    updated=1
  fi
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

mapfile -t missing < <(missing_of "${pkgs[@]}")
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: installing ${missing[*]}" >&2
  install "${missing[@]}"
fi

if [[ ${#optional[@]} -gt 0 ]]; then
  mapfile -t missing < <(missing_of "${optional[@]}")
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "setup: installing ${missing[*]}" >&2
    install "${missing[@]}" || echo "setup: could not install ${missing[*]}; the PyTorch backend is not built and its tests skip" >&2
  fi
fi
