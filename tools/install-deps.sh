#!/usr/bin/env bash
# Installs what longtail's build needs and the machine lacks (Debian and Ubuntu package names), so
# the README's first command works on a machine with only git, a compiler and apt. .ci/run uses this
# same script, so the two can never disagree. A machine that has everything is left untouched.
#   bash tools/install-deps.sh
set -euo pipefail

# MPI: data-parallel ranks and the mpi tests; chromium: the test that opens the run's HTML report headless
# (tests/test_run.sh; it skips without it)
packages=(cmake make gcc g++ pkg-config zlib1g-dev libhdf5-dev libopenblas-dev libdnnl-dev
          openmpi-bin libopenmpi-dev chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found; install these packages (or their equivalents) by hand: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
