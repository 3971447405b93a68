#!/usr/bin/env bash
# Installs every Debian package strideguard builds and tests with (docs/dependencies.md says why each is there).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  cmake ninja-build g++ clang libclang-rt-14-dev \
  libgtest-dev googletest libbenchmark-dev librapidcheck-dev libcli11-dev libfmt-dev >/dev/null
echo "INFO: dependencies installed"
