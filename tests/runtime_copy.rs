//! The forward copy behind onggi-runtime's memcpy and musl's memmove
//! (src/bin/onggi-runtime/copy.rs): every size up to a few hundred bytes,
//! at every alignment, disjoint and overlapping forward (what memmove asks
//! of it), against a byte loop.

#[cfg(target_arch = "x86_64")]
#[path = "../src/bin/onggi-runtime/copy.rs"]
mod copy;

#[cfg(target_arch = "x86_64")]
#[test]
fn copies_every_size_and_alignment_exactly() {
    let pattern: Vec<u8> = (0..1024u32).map(|i| (i * 37 + 11) as u8).collect();
    for n in 0..300 {
        for src_off in 0..8 {
            for dst_off in 0..8 {
                let mut dst = vec![0xAAu8; 400];
                // SAFETY: both ranges lie inside their vectors.
                unsafe {
                    copy::copy_forward(
                        dst.as_mut_ptr().add(dst_off),
                        pattern.as_ptr().add(src_off),
                        n,
                    )
                };
                assert_eq!(
                    &dst[dst_off..dst_off + n],
                    &pattern[src_off..src_off + n],
                    "n={n}"
                );
                assert!(
                    dst[..dst_off].iter().all(|b| *b == 0xAA),
                    "n={n}: wrote before"
                );
                assert!(
                    dst[dst_off + n..].iter().all(|b| *b == 0xAA),
                    "n={n}: wrote after"
                );
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn copies_forward_over_an_overlap_as_memmove_needs() {
    for n in 0..300 {
        for shift in 1..40 {
            let mut buf: Vec<u8> = (0..400u32).map(|i| (i * 13 + 5) as u8).collect();
            let want: Vec<u8> = buf[shift..shift + n].to_vec();
            let p = buf.as_mut_ptr();
            // SAFETY: both ranges lie inside buf; dst is below src.
            unsafe { copy::copy_forward(p, p.add(shift), n) };
            assert_eq!(&buf[..n], &want[..], "n={n} shift={shift}");
        }
    }
}
