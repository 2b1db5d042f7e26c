// Sanitizer defaults baked into vistream_core_tests, so `ctest` in build/tsan or build/asan
// behaves like scripts/sanitize.sh (TSAN_OPTIONS/ASAN_OPTIONS in the environment still win).
//
// ignore_noninstrumented_modules: FFmpeg is not built with TSan. Its buffer refcounts and
// frame-threading handshakes are C11 atomics TSan cannot see, so every frame that one thread
// allocates and another frees (the normal refcounted hand-off) would be reported as a race.
// With the flag, malloc/free/memcpy called from inside the FFmpeg libraries are not tracked;
// every access in vistream's own code still is (a missing lock in BlockingQueue is reported).
#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_options() {
  return "ignore_noninstrumented_modules=1 halt_on_error=1 abort_on_error=1 second_deadlock_stack=1";
}
#endif

#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() {
  return "halt_on_error=1 abort_on_error=1 detect_leaks=1";
}
extern "C" const char* __ubsan_default_options() {
  return "halt_on_error=1 abort_on_error=1 print_stacktrace=1";
}
#endif
