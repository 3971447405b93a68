#!/usr/bin/env bash
# Quick start, step 1: install dependencies, build the default preset, run the main job (props on the CPU backend).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
cmake --preset default >/dev/null
cmake --build --preset default
./build/default/props/props --seed 1 --failure-dir build/default
