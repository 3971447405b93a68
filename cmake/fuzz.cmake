# Fuzz targets: flags for the SG_FUZZ build and one helper, sg_add_fuzzer(). With SG_FUZZ (clang) a target links the
# fuzzing engine and every library is compiled with coverage, ASan and UBSan; otherwise the same sources link
# fuzz/replay_main.cpp and replay their corpus as an ordinary test (g++ included).
#
# Script mode: `cmake -DSG_FRESH_DIR=DIR -P cmake/fuzz.cmake` leaves DIR with empty corpus/ and artifacts/, so a
# fuzz test starts from the same state on every run (ctest runs it as a fixture; no shell needed).
if(CMAKE_SCRIPT_MODE_FILE)
  if(SG_FRESH_DIR)
    file(REMOVE_RECURSE "${SG_FRESH_DIR}")
    file(MAKE_DIRECTORY "${SG_FRESH_DIR}/corpus" "${SG_FRESH_DIR}/artifacts")
  endif()
  return()
endif()

set(SG_LIB_FUZZING_ENGINE "-fsanitize=fuzzer" CACHE STRING
  "Link flags that provide the fuzzing engine's main (OSS-Fuzz and ClusterFuzzLite pass $LIB_FUZZING_ENGINE)")
option(SG_FUZZ_FLAGS_FROM_ENV
  "Take sanitizer and coverage flags from CFLAGS/CXXFLAGS as OSS-Fuzz and ClusterFuzzLite set them" OFF)
set(SG_FUZZ_SECONDS 20 CACHE STRING "Seconds each target fuzzes from its corpus in ctest (SG_FUZZ builds)")
set(SG_FUZZ_DETECT_SECONDS 60 CACHE STRING "Budget for each bug-model detection test (SG_FUZZ builds)")

if(SG_FUZZ AND NOT SG_FUZZ_FLAGS_FROM_ENV)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SG_FUZZ needs clang (libFuzzer); configure with the fuzz preset or CXX=clang++")
  endif()
  # Coverage everywhere (fuzzer-no-link), not only in the target: the planner and layout code is what the fuzzer
  # must see. Added to the project's INTERFACE options target, as SG_SANITIZE does.
  target_compile_options(sg_options INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
  target_link_options(sg_options INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
endif()
if(SG_FUZZ AND NOT SG_FUZZ_FLAGS_FROM_ENV)
  # The oracle (reference, harness) keeps edge coverage but not comparison tracing: its per-element loops
  # compare on every element, and tracing them was a third of the whole-case target's time while steering the
  # mutator towards the oracle's own constants rather than the dispatcher's.
  foreach(oracle strideguard_reference strideguard_harness)
    target_compile_options(${oracle} PRIVATE -fno-sanitize-coverage=trace-cmp)
  endforeach()
endif()
if(SG_FUZZ)
  # ASan-poisoned arena slack (harness/arena.cpp), beside guard pages and canaries: what catches a bad plan when
  # SG_CHECK_ACCESSES=0 turns the emulator's own checks off. The poisoning macros are no-ops without ASan.
  target_compile_definitions(sg_options INTERFACE SG_ASAN=1)
endif()

# sg_add_fuzzer(name SOURCES src... [LIBS lib...] [CORPUS dir])
# Registers `name.corpus` (replays corpus/<name>/, or CORPUS, once: label corpus) and, with SG_FUZZ,
# `name.fuzz` (SG_FUZZ_SECONDS of fuzzing from that corpus with -seed=1, new inputs kept in the build tree:
# label fuzz). A target that exits 77 (no GPU here) counts as skipped.
function(sg_add_fuzzer name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${F_SOURCES})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  if(NOT F_CORPUS)
    set(F_CORPUS ${PROJECT_SOURCE_DIR}/corpus/${name})
  endif()
  if(SG_FUZZ)
    separate_arguments(engine UNIX_COMMAND "${SG_LIB_FUZZING_ENGINE}")
    target_link_options(${name} PRIVATE ${engine})
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/fuzz/sanitizer_defaults.cpp)
    set(replay_flags -runs=0)
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
    set(replay_flags)
  endif()
  add_test(NAME ${name}.corpus COMMAND ${name} ${replay_flags} ${F_CORPUS})
  set_tests_properties(${name}.corpus PROPERTIES LABELS corpus SKIP_RETURN_CODE 77)
  if(SG_FUZZ)
    set(dict_flag)
    if(EXISTS ${PROJECT_SOURCE_DIR}/corpus/${name}.dict)
      set(dict_flag -dict=${PROJECT_SOURCE_DIR}/corpus/${name}.dict)
    endif()
    set(scratch ${CMAKE_CURRENT_BINARY_DIR}/scratch/${name})
    add_test(NAME ${name}.fuzz.fresh COMMAND ${CMAKE_COMMAND} -DSG_FRESH_DIR=${scratch} -P ${PROJECT_SOURCE_DIR}/cmake/fuzz.cmake)
    set_tests_properties(${name}.fuzz.fresh PROPERTIES FIXTURES_SETUP ${name}.scratch LABELS fuzz)
    add_test(NAME ${name}.fuzz
             COMMAND ${name} -seed=1 -max_total_time=${SG_FUZZ_SECONDS} -print_final_stats=1 ${dict_flag}
                     -artifact_prefix=${scratch}/artifacts/ ${scratch}/corpus ${F_CORPUS})
    set_tests_properties(${name}.fuzz PROPERTIES FIXTURES_REQUIRED ${name}.scratch LABELS fuzz SKIP_RETURN_CODE 77
                         TIMEOUT 300)
  endif()
endfunction()
