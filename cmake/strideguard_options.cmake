# Warnings, sanitizers and floating-point flags on INTERFACE targets (never global flags), plus one helper per
# target kind: sg_library, sg_test.

add_library(sg_options INTERFACE)
target_include_directories(sg_options INTERFACE ${PROJECT_SOURCE_DIR})
target_compile_options(sg_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wno-unused-parameter
  # Kernels must round every fp32 operation exactly as the GPU does (see kernels/sg_hd.hpp): no contraction.
  -ffp-contract=off)

if(SG_SANITIZE)
  target_compile_options(sg_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
  target_link_options(sg_options INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all)
  target_compile_definitions(sg_options INTERFACE SG_ASAN=1)
endif()

find_package(GTest REQUIRED)
include(GoogleTest)

# sg_library(name SOURCES...) : a static library with the project's options.
function(sg_library name)
  add_library(${name} STATIC ${ARGN})
  target_link_libraries(${name} PUBLIC sg_options)
endfunction()

# sg_test(name LIBS... SOURCES ...) : a GoogleTest binary registered test-by-test with ctest.
function(sg_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
endfunction()
