//! How weftd's heap gives memory back. glibc's allocator keeps an arena per
//! thread that allocates (up to eight per core) and keeps what is freed in
//! them: with the kubernetes datastore at 10,000 pods, the watch, the
//! policy passes on the blocking pool and the reconcilers left weftd's RSS
//! at twice its live heap (BENCHMARKS.md, "weftd memory"). Two arenas and a
//! trim after each policy pass, the one step that frees tens of MB at once,
//! bring it back. musl's allocator (the image's static build) has neither
//! knob and returns memory itself.

/// Arenas for weftd's threads: two cores' worth of contention is plenty
/// for a node agent, and fewer arenas strand less freed memory.
#[cfg(target_env = "gnu")]
const MALLOC_ARENAS: libc::c_int = 2;

/// Caps the allocator's arenas; call before the runtime starts threads.
pub fn limit_allocator_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a tunable; a refused value leaves the default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
    }
}

/// Gives the system the free pages in every arena, not only at their tops.
pub fn return_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim walks the allocator's own free lists under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
