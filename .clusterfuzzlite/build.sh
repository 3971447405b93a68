#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build script. Uses only the variables those systems set: $CC $CXX $CFLAGS $CXXFLAGS
# (sanitizer and coverage flags included), $LIB_FUZZING_ENGINE (the engine's main), $SRC, $WORK, $OUT.
# Produces in $OUT: each fuzz target, its seed corpus (TARGET_seed_corpus.zip), dictionary and .options file.
# Local test (clang + libFuzzer installed):
#   SRC=$PWD/.. WORK=/tmp/cfl-work OUT=/tmp/cfl-out CC=clang CXX=clang++ LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#   CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link" \
#   CXXFLAGS="$CFLAGS" .clusterfuzzlite/build.sh
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ -f "$src/CMakeLists.txt" ]] || src="$SRC/strideguard"  # as copied by the Dockerfile, script in $SRC
build="$WORK/strideguard-build"
targets=(fuzz_planner fuzz_case_cpu)

cmake -S "$src" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DSG_FUZZ=ON -DSG_FUZZ_FLAGS_FROM_ENV=ON -DSG_LIB_FUZZING_ENGINE="$LIB_FUZZING_ENGINE" -DSG_BENCH=OFF
cmake --build "$build" --target "${targets[@]}"

for t in "${targets[@]}"; do
  cp "$build/fuzz/$t" "$OUT/$t"
  rm -f "$OUT/${t}_seed_corpus.zip"
  (cd "$src/corpus/$t" && zip -q -r "$OUT/${t}_seed_corpus.zip" .)
  cp "$src/corpus/$t.dict" "$OUT/$t.dict"
  printf '[libfuzzer]\ndict = %s.dict\n' "$t" >"$OUT/$t.options"
done
