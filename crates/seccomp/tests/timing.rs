//! Compile and load times for a Docker-like profile (tests/data/docker_like.json, ~400 names on
//! three ABIs), and the per-syscall cost of the loaded filter. Prints the numbers
//! (`cargo test -p onggi-seccomp --release --test timing -- --nocapture`); the bounds asserted
//! are loose so that a loaded CI machine does not fail them.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use common::*;
use onggi_seccomp::{compile, parse_seccomp};

const PROFILE: &str = include_str!("data/docker_like.json");

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new fds into `fds`, which we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just created and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Runs `measure` in a child and returns the u64 it reports through a pipe.
fn child_measure(measure: impl FnOnce() -> Option<u64>) -> u64 {
    let (r, w) = pipe();
    let status = in_child(|| match measure() {
        Some(v) => {
            let bytes = v.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live stack buffer.
            let n = unsafe { libc::write(w.as_raw_fd(), bytes.as_ptr().cast(), 8) };
            if n == 8 {
                0
            } else {
                1
            }
        }
        None => 2,
    });
    assert_eq!(exited(status), 0);
    drop(w);
    let mut bytes = [0u8; 8];
    // SAFETY: reads up to 8 bytes into a live stack buffer.
    let n = unsafe { libc::read(r.as_raw_fd(), bytes.as_mut_ptr().cast(), 8) };
    assert_eq!(n, 8);
    u64::from_ne_bytes(bytes)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn docker_like_profile_compile_and_load_times() {
    let t = Instant::now();
    let spec = parse_seccomp(PROFILE.as_bytes()).expect("profile parses");
    let parse = t.elapsed();

    let runs = 200;
    let mut compile_ns = Vec::with_capacity(runs);
    let mut filter = None;
    for _ in 0..runs {
        let t = Instant::now();
        let f = compile(&spec).expect("profile compiles");
        compile_ns.push(t.elapsed().as_nanos() as u64);
        filter = Some(f);
    }
    let f = filter.expect("compiled");
    let compile_med = median(compile_ns);

    let load_ns: Vec<u64> = (0..21)
        .map(|_| {
            child_measure(|| {
                // SAFETY: prctl with integer arguments only.
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                let t0 = now_ns();
                f.load().ok()?;
                Some(now_ns() - t0)
            })
        })
        .collect();
    let load_med = median(load_ns);

    // Per-syscall cost: getppid is allowed, in the middle of the table.
    const CALLS: u64 = 200_000;
    let loop_ns = |with_filter: bool| {
        median(
            (0..5)
                .map(|_| {
                    child_measure(|| {
                        if with_filter {
                            load(&f).ok()?;
                        }
                        let t0 = now_ns();
                        for _ in 0..CALLS {
                            // SAFETY: getppid takes no arguments.
                            unsafe { libc::syscall(libc::SYS_getppid) };
                        }
                        Some((now_ns() - t0) / CALLS)
                    })
                })
                .collect(),
        )
    };
    let bare = loop_ns(false);
    let filtered = loop_ns(true);

    println!(
        "docker-like profile: {} BPF instructions; parse {:?}; compile median {:?}; load median {:?}; \
         getppid {} ns bare, {} ns filtered",
        f.instructions().len(),
        parse,
        Duration::from_nanos(compile_med),
        Duration::from_nanos(load_med),
        bare,
        filtered,
    );
    assert!(compile_med < 50_000_000, "compile took {compile_med} ns");
    assert!(load_med < 50_000_000, "load took {load_med} ns");
}

#[test]
fn docker_like_profile_behaves() {
    let f = filter(PROFILE);
    // Allowed, denied by omission (EPERM via defaultErrnoRet), explicit ENOSYS for clone3, and
    // an argument rule.
    assert_eq!(
        exited(errno_in_child(&f, || sys(libc::SYS_getppid, [0; 3]))),
        0
    );
    let mount = || sys(libc::SYS_mount, [0; 3]);
    assert_eq!(exited(errno_in_child(&f, mount)), libc::EPERM);
    assert_eq!(
        exited(errno_in_child(&f, || sys(libc::SYS_clone3, [0; 3]))),
        libc::ENOSYS
    );
    let socket = |domain: u64| sys(libc::SYS_socket, [domain, libc::SOCK_STREAM as u64, 0]);
    assert_eq!(exited(errno_in_child(&f, || socket(40))), libc::EPERM);
    assert_eq!(
        exited(errno_in_child(&f, || socket(libc::AF_UNIX as u64))),
        0
    );
    let personality = |p: u64| sys(libc::SYS_personality, [p, 0, 0]);
    assert_eq!(exited(errno_in_child(&f, || personality(0xffff_ffff))), 0);
    assert_eq!(
        exited(errno_in_child(&f, || personality(0x0040_0000))),
        libc::EPERM
    );
}
