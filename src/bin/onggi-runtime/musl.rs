//! Link glue for building onggi-runtime against musl's libc.a (see
//! build.rs): std and libgcc are the x86_64-unknown-linux-gnu builds, and
//! these are the glibc-only symbols they reference, and an allocator.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

/// std asks for the glibc version to decide whether `posix_spawn` reports
/// exec errors itself. A version it cannot parse makes it fork and exec
/// instead, which is right for any libc.
#[no_mangle]
pub extern "C" fn gnu_get_libc_version() -> *const c_char {
    c"musl".as_ptr()
}

/// What glibc's `_dl_find_object` reports (x86_64 layout, glibc 2.35).
#[repr(C)]
pub struct DlFindObject {
    flags: u64,
    map_start: *mut c_void,
    map_end: *mut c_void,
    link_map: *mut c_void,
    eh_frame: *mut c_void,
    reserved: [u64; 7],
}

/// libgcc's unwinder (gcc 12, built against glibc 2.36) finds the unwind
/// tables of a code address with glibc's `_dl_find_object`; it is needed
/// when a backtrace is captured (anyhow does under RUST_BACKTRACE=1). This
/// one asks musl's `dl_iterate_phdr` for the object whose PT_LOAD segments
/// hold `pc` and returns its PT_GNU_EH_FRAME. Returns 0 when found, -1 if not.
///
/// # Safety
/// `result` must point to writable memory for a `DlFindObject`.
#[no_mangle]
pub unsafe extern "C" fn _dl_find_object(pc: *mut c_void, result: *mut DlFindObject) -> c_int {
    let mut search = Search {
        pc: pc as usize,
        found: None,
    };
    // SAFETY: `visit` matches dl_iterate_phdr's callback type and only
    // casts `data` back to the `Search` passed here, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut search).cast()) };
    let Some((map_start, map_end, eh_frame)) = search.found else {
        return -1;
    };
    // SAFETY: the caller passes a valid, writable result (see above).
    unsafe {
        result.write(DlFindObject {
            flags: 0,
            map_start: map_start as *mut c_void,
            map_end: map_end as *mut c_void,
            link_map: std::ptr::null_mut(),
            eh_frame: eh_frame as *mut c_void,
            reserved: [0; 7],
        })
    };
    0
}

struct Search {
    pc: usize,
    /// (lowest mapped address, end of the highest, PT_GNU_EH_FRAME address)
    found: Option<(usize, usize, usize)>,
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid info for the duration of the
    // call, and `data` is the `Search` that _dl_find_object passed.
    let (info, search) = unsafe { (&*info, &mut *data.cast::<Search>()) };
    if info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
    let base = info.dlpi_addr as usize;
    let (mut low, mut high, mut eh_frame, mut holds_pc) = (usize::MAX, 0, 0, false);
    for ph in phdrs {
        let start = base.wrapping_add(ph.p_vaddr as usize);
        let end = start.wrapping_add(ph.p_memsz as usize);
        match ph.p_type {
            libc::PT_LOAD => {
                low = low.min(start);
                high = high.max(end);
                holds_pc |= (start..end).contains(&search.pc);
            }
            libc::PT_GNU_EH_FRAME => eh_frame = start,
            _ => {}
        }
    }
    if holds_pc && eh_frame != 0 {
        search.found = Some((low, high, eh_frame));
        return 1;
    }
    0
}

/// libgcc's unwinder calls pthread functions through weak references,
/// which do not pull them out of musl's libc.a, and calls them once
/// `__pthread_key_create` is linked (std links it): a backtrace would jump
/// to address 0. Referencing them here links them.
#[used]
static PTHREAD_FOR_LIBGCC: [FnAddress; 6] = [
    FnAddress(libc::pthread_once as *const ()),
    FnAddress(libc::pthread_mutex_lock as *const ()),
    FnAddress(libc::pthread_mutex_unlock as *const ()),
    FnAddress(libc::pthread_key_create as *const ()),
    FnAddress(libc::pthread_getspecific as *const ()),
    FnAddress(libc::pthread_setspecific as *const ()),
];

struct FnAddress(#[allow(dead_code)] *const ());
// SAFETY: the addresses of functions, never dereferenced as data.
unsafe impl Sync for FnAddress {}

/// musl's `abort` raises SIGABRT with the thread id it cached when the
/// process started. The container init and `exec`'s child are clone3
/// children that musl did not make, so their cached id is the parent's: a
/// panic there (panic = "abort") would send SIGABRT to the runtime that
/// cloned them (when they share its pid namespace) and leave the child to
/// crash some other way. This one signals the caller by the ids the kernel
/// gives now, as glibc's does. The linker takes it instead of musl's.
#[no_mangle]
pub extern "C" fn abort() -> ! {
    // SAFETY: resetting SIGABRT to its default action, unblocking it and
    // signalling this thread; _exit if that did not end the process.
    unsafe {
        libc::signal(libc::SIGABRT, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGABRT);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        let pid = libc::syscall(libc::SYS_getpid);
        let tid = libc::syscall(libc::SYS_gettid);
        libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGABRT);
        libc::_exit(127)
    }
}

/// musl's malloc (mallocng) maps and unmaps pages for the many small,
/// short-lived allocations of a runtime call (~60 mmap and munmap calls
/// per `run`, ~0.4 ms here); dlmalloc keeps and reuses what it mapped.
///
/// The heap sits behind a spin lock, not dlmalloc's own pthread mutex:
/// a runtime call makes thousands of allocations, nearly always from one
/// thread, and an uncontended atomic swap costs a fraction of musl's
/// mutex lock and unlock calls.
#[global_allocator]
static ALLOCATOR: Allocator = Allocator {
    locked: AtomicBool::new(false),
    heap: UnsafeCell::new(dlmalloc::Dlmalloc::new()),
};

struct Allocator {
    locked: AtomicBool,
    heap: UnsafeCell<dlmalloc::Dlmalloc>,
}

// SAFETY: every access to `heap` happens inside `with_heap`, which holds
// `locked` for its whole duration.
unsafe impl Sync for Allocator {}

impl Allocator {
    fn with_heap<R>(&self, f: impl FnOnce(&mut dlmalloc::Dlmalloc) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Another thread allocates: let it finish (no allocation here).
            // SAFETY: sched_yield has no arguments and cannot fail.
            unsafe { libc::sched_yield() };
        }
        // SAFETY: the lock is held, so this is the only reference.
        let r = f(unsafe { &mut *self.heap.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

// SAFETY: dlmalloc returns blocks of the requested size and alignment or
// null, and frees only what it handed out; the lock serialises all calls.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout is passed through unchanged.
        self.with_heap(|h| unsafe { h.malloc(layout.size(), layout.align()) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in alloc.
        self.with_heap(|h| unsafe { h.calloc(layout.size(), layout.align()) })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller frees a block this allocator gave it, with its layout.
        self.with_heap(|h| unsafe { h.free(ptr, layout.size(), layout.align()) })
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in dealloc, with the new size the caller asks for.
        self.with_heap(|h| unsafe { h.realloc(ptr, layout.size(), layout.align(), new_size) })
    }
}

/// memcpy for the many small copies Rust code makes (a `run` makes ~3,300,
/// half of them under 6 bytes): musl's x86_64 memcpy starts every copy with
/// `rep movsq` and copies the rest a byte at a time with `movsb`, ~50-100
/// cycles even for a few bytes. See `copy.rs`. Measured: `run` -0.14 to
/// -0.17 ms (alternating builds, 10 x 30 runs).
#[cfg(target_arch = "x86_64")]
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut c_void, src: *const c_void, n: usize) -> *mut c_void {
    // SAFETY: the caller's memcpy contract is copy_forward's.
    unsafe { crate::copy::copy_forward(dst.cast(), src.cast(), n) };
    dst
}

/// musl's memmove copies forward through `__memcpy_fwd`, defined in the
/// same object as its memcpy (which would then be linked in twice): the
/// same forward copy serves for both.
#[cfg(target_arch = "x86_64")]
#[no_mangle]
pub unsafe extern "C" fn __memcpy_fwd(
    dst: *mut c_void,
    src: *const c_void,
    n: usize,
) -> *mut c_void {
    // SAFETY: memmove calls this only with dst below src, where a forward
    // copy is correct (see copy_forward).
    unsafe { crate::copy::copy_forward(dst.cast(), src.cast(), n) };
    dst
}
