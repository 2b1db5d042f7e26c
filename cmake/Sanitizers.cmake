# Sanitizer builds of the core, the C++ tests and (optionally) the Python extension.
#   cmake -DVISTREAM_SANITIZE=thread ...              ThreadSanitizer
#   cmake -DVISTREAM_SANITIZE=address,undefined ...   AddressSanitizer + UndefinedBehaviorSanitizer
# scripts/sanitize.sh drives both. The default ("") leaves every flag untouched, so the normal
# Python build (scikit-build-core) is unaffected.
set(VISTREAM_SANITIZE "" CACHE STRING
    "Sanitizers for the core, the extension and the C++ tests: '', 'thread' or 'address,undefined'")
set_property(CACHE VISTREAM_SANITIZE PROPERTY STRINGS "" "thread" "address" "undefined" "address,undefined")

set(_vs_known_sanitizer_sets "" "thread" "address" "undefined" "address,undefined")
if(NOT VISTREAM_SANITIZE IN_LIST _vs_known_sanitizer_sets)
  message(FATAL_ERROR "VISTREAM_SANITIZE='${VISTREAM_SANITIZE}': use '', 'thread', 'address', "
                      "'undefined' or 'address,undefined' (TSan cannot be combined with ASan)")
endif()

# Adds the sanitizer flags to `target`, PUBLIC so everything linking it (tests, _core) is built
# and linked the same way; a sanitized static library linked into an unsanitized binary would
# fail at link time or, worse, check only half the code.
function(vistream_apply_sanitizers target)
  if(VISTREAM_SANITIZE STREQUAL "")
    return()
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "VISTREAM_SANITIZE needs GCC or Clang (have ${CMAKE_CXX_COMPILER_ID})")
  endif()
  # -O1 keeps the sanitized code fast enough to run the suites while the stack traces stay
  # readable; it comes after the build type's -O flag on the command line, so it wins.
  set(_flags -fsanitize=${VISTREAM_SANITIZE} -fno-omit-frame-pointer -O1 -g)
  if(VISTREAM_SANITIZE MATCHES "undefined")
    # A UBSan finding aborts the test instead of printing a line nobody reads.
    list(APPEND _flags -fno-sanitize-recover=undefined)
  endif()
  target_compile_options(${target} PUBLIC ${_flags})
  target_link_options(${target} PUBLIC -fsanitize=${VISTREAM_SANITIZE})
endfunction()
