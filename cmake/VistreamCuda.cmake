# The core's CUDA support.
#
# The driver API is loaded at run time through FFmpeg's ffnvcodec loader (Debian/Ubuntu
# libffmpeg-nvenc-dev, conda ffnvcodec-headers): only its headers are needed to build, never
# libcuda or the CUDA toolkit. The NV12/P010 -> BGR conversion kernels (src/cuda/) are compiled
# with nvcc into a fatbin (SASS for sm_75..sm_90 + PTX) embedded in the library and loaded with
# cuModuleLoadData; without nvcc, or with VISTREAM_CUDA_KERNELS=OFF, device frames are
# converted by the torch fallback instead.

find_path(VISTREAM_FFNVCODEC_INCLUDE_DIR ffnvcodec/dynlink_loader.h
  HINTS ENV CONDA_PREFIX PATH_SUFFIXES include)
if(NOT VISTREAM_FFNVCODEC_INCLUDE_DIR)
  message(FATAL_ERROR "ffnvcodec headers not found (apt-get install libffmpeg-nvenc-dev, "
                      "or conda install ffnvcodec-headers): the CUDA loader needs ffnvcodec/dynlink_loader.h")
endif()

find_program(VISTREAM_NVCC nvcc HINTS ENV CUDACXX PATHS /usr/local/cuda/bin)
if(VISTREAM_NVCC)
  set(_vistream_kernels_default ON)
else()
  set(_vistream_kernels_default OFF)
endif()
option(VISTREAM_CUDA_KERNELS "Build the CUDA colour-conversion kernels (needs nvcc)" ${_vistream_kernels_default})
# Architectures that get SASS; PTX of the last one is embedded too, for newer GPUs.
set(VISTREAM_CUDA_SASS_ARCHS "75;80;86;89;90" CACHE STRING "CUDA SM versions embedded as SASS")

function(vistream_add_cuda target)
  target_include_directories(${target} PRIVATE ${VISTREAM_FFNVCODEC_INCLUDE_DIR})
  target_link_libraries(${target} PUBLIC ${CMAKE_DL_LIBS})
  if(NOT VISTREAM_CUDA_KERNELS)
    target_compile_definitions(${target} PRIVATE VS_HAVE_CUDA_KERNELS=0)
    message(STATUS "CUDA kernels: off (device frames convert through torch)")
    return()
  endif()
  if(NOT VISTREAM_NVCC)
    message(FATAL_ERROR "VISTREAM_CUDA_KERNELS=ON needs nvcc (set CUDACXX or turn the option off)")
  endif()
  set(_source ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/convert_kernels.cu)
  set(_gencode "")
  foreach(_arch IN LISTS VISTREAM_CUDA_SASS_ARCHS)
    list(APPEND _gencode -gencode=arch=compute_${_arch},code=sm_${_arch})
    set(_last ${_arch})
  endforeach()
  list(APPEND _gencode -gencode=arch=compute_${_last},code=compute_${_last})
  set(_out ${CMAKE_CURRENT_BINARY_DIR}/vistream_cuda)
  set(_fatbin ${_out}/convert_kernels.fatbin)
  set(_ptx ${_out}/convert_kernels.ptx)
  set(_embed ${_out}/convert_kernels_fatbin.cpp)
  # One nvcc run per change of the kernel sources: a plain custom command, so it is cached by
  # the build tree like any object (ccache does not cover nvcc).
  add_custom_command(
    OUTPUT ${_fatbin} ${_ptx}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_out}
    COMMAND ${VISTREAM_NVCC} -fatbin -O3 -std=c++17 ${_gencode} -I${CMAKE_CURRENT_SOURCE_DIR}/src/cuda
            -o ${_fatbin} ${_source}
    COMMAND ${VISTREAM_NVCC} -ptx -O3 -std=c++17 -arch=compute_${_last} -I${CMAKE_CURRENT_SOURCE_DIR}/src/cuda
            -o ${_ptx} ${_source}
    DEPENDS ${_source} ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/color_convert.hpp
    COMMENT "nvcc: conversion kernels (SASS sm_${VISTREAM_CUDA_SASS_ARCHS}, PTX compute_${_last})"
    VERBATIM)
  add_custom_command(
    OUTPUT ${_embed}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${_fatbin} -DOUTPUT=${_embed} -DSYMBOL=vistream_convert_fatbin
            -P ${CMAKE_CURRENT_SOURCE_DIR}/cmake/EmbedBinary.cmake
    DEPENDS ${_fatbin} ${CMAKE_CURRENT_SOURCE_DIR}/cmake/EmbedBinary.cmake
    VERBATIM)
  target_sources(${target} PRIVATE ${_embed})
  target_compile_definitions(${target} PRIVATE VS_HAVE_CUDA_KERNELS=1)
  set(VISTREAM_CUDA_PTX ${_ptx} PARENT_SCOPE)
  install(FILES ${_ptx} DESTINATION vistream OPTIONAL)
  message(STATUS "CUDA kernels: on (${VISTREAM_NVCC}; SASS ${VISTREAM_CUDA_SASS_ARCHS} + PTX)")
endfunction()
