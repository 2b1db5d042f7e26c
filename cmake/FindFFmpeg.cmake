# Finds the FFmpeg libraries through pkg-config and defines one imported target per library
# (FFmpeg::avformat, ...) plus FFmpeg::FFmpeg linking them all.
#   find_package(FFmpeg REQUIRED COMPONENTS avformat avcodec ...)
find_package(PkgConfig REQUIRED)

set(_vs_ffmpeg_all avformat avcodec avfilter avutil swscale swresample avdevice)
if(NOT FFmpeg_FIND_COMPONENTS)
  set(FFmpeg_FIND_COMPONENTS avformat avcodec avfilter avutil swscale swresample)
endif()

set(FFmpeg_FOUND TRUE)
foreach(_lib IN LISTS FFmpeg_FIND_COMPONENTS)
  pkg_check_modules(PC_${_lib} QUIET IMPORTED_TARGET lib${_lib})
  if(PC_${_lib}_FOUND)
    set(FFmpeg_${_lib}_FOUND TRUE)
    set(FFmpeg_${_lib}_VERSION ${PC_${_lib}_VERSION})
    if(NOT TARGET FFmpeg::${_lib})
      add_library(FFmpeg::${_lib} ALIAS PkgConfig::PC_${_lib})
    endif()
  else()
    set(FFmpeg_${_lib}_FOUND FALSE)
    if(FFmpeg_FIND_REQUIRED_${_lib})
      set(FFmpeg_FOUND FALSE)
      list(APPEND _vs_ffmpeg_missing lib${_lib})
    endif()
  endif()
endforeach()

if(NOT FFmpeg_FOUND)
  message(FATAL_ERROR "FFmpeg development files not found: ${_vs_ffmpeg_missing}. On Debian/Ubuntu: "
          "apt-get install pkg-config libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev "
          "libswresample-dev libavutil-dev libavdevice-dev")
endif()

if(NOT TARGET FFmpeg::FFmpeg)
  add_library(FFmpeg::FFmpeg INTERFACE IMPORTED)
  foreach(_lib IN LISTS FFmpeg_FIND_COMPONENTS)
    target_link_libraries(FFmpeg::FFmpeg INTERFACE FFmpeg::${_lib})
  endforeach()
endif()
message(STATUS "FFmpeg: libavcodec ${FFmpeg_avcodec_VERSION}, libavformat ${FFmpeg_avformat_VERSION}")
