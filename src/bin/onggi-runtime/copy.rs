//! A forward byte copy for memcpy (see musl.rs), fast for small sizes: up
//! to 32 bytes two overlapping loads and stores of one width, longer
//! copies `rep movsb` (fast on CPUs with ERMS). Written so that the
//! compiler cannot turn it back into a call to memcpy: fixed-width
//! unaligned loads and inline assembly. tests/runtime_copy.rs checks it.

/// Copy `n` bytes from `s` to `d`, loading every byte before storing it
/// (up to 32 bytes) or front to back: correct for disjoint buffers and for
/// overlapping ones with `d` below `s`.
///
/// # Safety
/// `s` must be valid for reading and `d` for writing `n` bytes.
#[cfg(target_arch = "x86_64")]
pub unsafe fn copy_forward(d: *mut u8, s: *const u8, n: usize) {
    // SAFETY (all branches): every access lies within [0, n) of its
    // buffer, which the caller guarantees; within a branch all loads come
    // before the stores.
    unsafe {
        match n {
            0 => {}
            1..=3 => {
                let (a, b, c) = (*s, *s.add(n / 2), *s.add(n - 1));
                *d = a;
                *d.add(n / 2) = b;
                *d.add(n - 1) = c;
            }
            4..=7 => {
                let a = s.cast::<u32>().read_unaligned();
                let b = s.add(n - 4).cast::<u32>().read_unaligned();
                d.cast::<u32>().write_unaligned(a);
                d.add(n - 4).cast::<u32>().write_unaligned(b);
            }
            8..=16 => {
                let a = s.cast::<u64>().read_unaligned();
                let b = s.add(n - 8).cast::<u64>().read_unaligned();
                d.cast::<u64>().write_unaligned(a);
                d.add(n - 8).cast::<u64>().write_unaligned(b);
            }
            17..=32 => {
                let a = s.cast::<u128>().read_unaligned();
                let b = s.add(n - 16).cast::<u128>().read_unaligned();
                d.cast::<u128>().write_unaligned(a);
                d.add(n - 16).cast::<u128>().write_unaligned(b);
            }
            _ => std::arch::asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rdi") d => _,
                inout("rsi") s => _,
                options(nostack, preserves_flags)
            ),
        }
    }
}
