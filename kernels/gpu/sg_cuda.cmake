# CUDA setup shared by kernels/gpu and bench: find nvcc, enable the language, and the flags every .hip source
# compiled by nvcc needs. Included from each directory that compiles .hip sources (enable_language per directory).

# nvcc is often not on PATH (/usr/local/cuda/bin): look there before enable_language gives up.
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90)
endif()
# CMake 3.25 does not know nvcc 13's C++20 flag, and CUDA targets inherit CXX_STANDARD 20: teach it.
if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()

# sg_cuda_flags(target): .hip sources compiled as CUDA (-x cu), with the flags bit-identity needs.
function(sg_cuda_flags target)
  get_target_property(srcs ${target} SOURCES)
  foreach(src ${srcs})
    if(src MATCHES "\\.hip$")
      set_source_files_properties(${src} PROPERTIES LANGUAGE CUDA)
    endif()
  endforeach()
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(${target} PRIVATE
    # Bit-identical to the CPU backend: no FMA contraction anywhere (the kernel's fp32 ops are _rn intrinsics
    # already; this keeps any other float expression honest too).
    $<$<COMPILE_LANGUAGE:CUDA>:--fmad=false>
    # SG_HD functions call constexpr std:: helpers (std::array::operator[]) that nvcc would otherwise reject.
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall>)
endfunction()
