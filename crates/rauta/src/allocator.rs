//! The process's memory allocator: mimalloc for the data plane's worker threads, the system
//! allocator (glibc) for every other thread.
//!
//! Why two: with mimalloc for the whole process the proxy spent 5% less CPU per request
//! (HTTP/1.1 and h2c, `bench/ab.py`), but idle RSS grew by 0.5 MB: mimalloc keeps each thread's
//! blocks of one size class together in 64 KiB pages, so the control plane's long-lived
//! configuration (many sizes, allocated once per reload) spread over three times the pages
//! glibc's heap needs. Requests allocate and free the same few sizes over and over, which is
//! what mimalloc is fast at; the configuration is built once and stays put, which glibc stores
//! more densely. Each worker thread opts in when it starts ([`use_mimalloc_on_this_thread`]).
//! Even so the workers' heaps cost 0.4 MiB of idle RSS (docs/benchmarks.md, "Session 6").
//!
//! A block is always returned to the allocator that made it, whichever thread frees it: mimalloc
//! records every page it owns in its page map, and `mi_is_in_heap_region` answers from that map
//! (NULL, hence `false`, for any address it never handed out, glibc's included).

// A `GlobalAlloc` is an unsafe trait over raw pointers, and mimalloc is reached through its C
// functions: the one place in the workspace that needs `unsafe` (Cargo.toml's lints).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_void;

use libmimalloc_sys as mi;

thread_local! {
    // `const` and without a destructor: reading it never allocates, so the allocator may.
    static WORKER: Cell<bool> = const { Cell::new(false) };
}

/// `mi_option_arena_reserve` in mimalloc 3's `mi_option_e` (`libmimalloc-sys` names no constant
/// for it); a test checks that the option it names has the documented default.
const ARENA_RESERVE_OPTION: mi::mi_option_t = 23;
/// mimalloc's default: 1 GiB, in KiB.
const ARENA_RESERVE_DEFAULT_KIB: std::ffi::c_long = 1 << 20;
/// What the workers reserve at a time. An arena's bitmaps are sized for what it reserves and are
/// resident from the first allocation: 1 GiB cost 150 KiB of idle RSS. mimalloc reserves another
/// arena whenever one is full, so this bounds nothing.
const ARENA_RESERVE_KIB: std::ffi::c_long = 64 << 10;

static CONFIGURE: std::sync::Once = std::sync::Once::new();

/// Makes the calling thread allocate from mimalloc from now on.
pub fn use_mimalloc_on_this_thread() {
    CONFIGURE.call_once(|| {
        // SAFETY: reads and sets a plain option before the first worker allocates; `call_once`
        // keeps it to one thread (mimalloc's option setters are not thread safe).
        unsafe {
            if mi::mi_option_get(ARENA_RESERVE_OPTION) == ARENA_RESERVE_DEFAULT_KIB {
                mi::mi_option_set(ARENA_RESERVE_OPTION, ARENA_RESERVE_KIB);
            }
        }
    });
    WORKER.with(|worker| worker.set(true));
}

fn on_worker() -> bool {
    WORKER.try_with(Cell::get).unwrap_or(false)
}

fn from_mimalloc(ptr: *mut u8) -> bool {
    // SAFETY: only reads mimalloc's page map; any address is allowed.
    unsafe { mi::mi_is_in_heap_region(ptr as *const c_void) }
}

/// The global allocator; see the module documentation.
pub struct Allocator;

// SAFETY: every block is allocated by exactly one of the two allocators and is freed or resized
// by the same one (`from_mimalloc`); both honour `Layout`'s size and alignment.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if on_worker() {
            // SAFETY: `layout` has a non-zero size (GlobalAlloc's contract).
            unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8 }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if on_worker() {
            // SAFETY: as in `alloc`.
            unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8 }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if from_mimalloc(ptr) {
            // SAFETY: `ptr` came from mimalloc and is freed once (the caller's contract).
            unsafe { mi::mi_free(ptr as *mut c_void) }
        } else {
            // SAFETY: `ptr` came from `System` with this `layout`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A block stays with the allocator that made it.
        if from_mimalloc(ptr) {
            // SAFETY: `ptr` came from mimalloc with `layout.align()`; `new_size` is non-zero.
            unsafe { mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8 }
        } else {
            // SAFETY: `ptr` came from `System` with this `layout`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_reserve_option_is_the_one_we_mean() {
        // Unset it is mimalloc's documented default; once a worker has started, ours.
        let value = unsafe { mi::mi_option_get(ARENA_RESERVE_OPTION) };
        assert!(
            value == ARENA_RESERVE_DEFAULT_KIB || value == ARENA_RESERVE_KIB,
            "{value}"
        );
        use_mimalloc_on_this_thread();
        assert_eq!(unsafe { mi::mi_option_get(ARENA_RESERVE_OPTION) }, ARENA_RESERVE_KIB);
    }

    #[test]
    fn blocks_return_to_the_allocator_that_made_them_across_threads() {
        // Called directly, so that the test decides which thread allocates what.
        let layout = Layout::from_size_align(100, 8).unwrap_or_else(|_| unreachable!());
        let big = Layout::from_size_align(3000, 128).unwrap_or_else(|_| unreachable!());
        let system = unsafe { Allocator.alloc(layout) };
        assert!(!system.is_null());
        assert!(!from_mimalloc(system));
        let (worker_small, worker_big) = std::thread::spawn(move || {
            use_mimalloc_on_this_thread();
            let small = unsafe { Allocator.alloc(layout) };
            let big_block = unsafe { Allocator.alloc_zeroed(big) };
            (small as usize, big_block as usize)
        })
        .join()
        .unwrap_or_else(|_| unreachable!());
        let (worker_small, worker_big) = (worker_small as *mut u8, worker_big as *mut u8);
        assert!(from_mimalloc(worker_small));
        assert!(from_mimalloc(worker_big));
        assert_eq!(worker_big as usize % 128, 0);
        // SAFETY: 3000 zeroed bytes were allocated above.
        assert!(
            unsafe { std::slice::from_raw_parts(worker_big, 3000) }
                .iter()
                .all(|b| *b == 0)
        );
        // Freed and grown on this (non-worker) thread: each goes back to its own allocator.
        let grown = unsafe { Allocator.realloc(worker_small, layout, 5000) };
        assert!(from_mimalloc(grown));
        let system_grown = unsafe { Allocator.realloc(system, layout, 5000) };
        assert!(!from_mimalloc(system_grown));
        let grown_layout = Layout::from_size_align(5000, 8).unwrap_or_else(|_| unreachable!());
        unsafe {
            Allocator.dealloc(grown, grown_layout);
            Allocator.dealloc(system_grown, grown_layout);
            Allocator.dealloc(worker_big, big);
        }
    }
}
