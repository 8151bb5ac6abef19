//! Helpers for tests that load real filters: each filter goes into a forked child, which
//! reports through its exit status. The test binary is multi-threaded, so the child only makes
//! system calls (no allocation, no locks) and leaves with _exit.
#![allow(dead_code)]

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use onggi_seccomp::{compile, parse_seccomp, Filter};

/// Exit code of a child whose load() failed.
pub const LOAD_FAILED: i32 = 250;

pub fn filter(json: &str) -> Filter {
    let spec = parse_seccomp(json.as_bytes()).expect("profile parses");
    compile(&spec).expect("profile compiles")
}

/// Runs `f` in a forked child and returns how the child ended.
pub fn in_child(f: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child runs only `f`, which by this module's contract makes system calls
    // without allocating, then leaves with _exit (no atexit handlers, no unwinding).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct above; SIGSYS deaths then leave no core files.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
        let code = f();
        // SAFETY: ends the child without running the parent's destructors or handlers.
        unsafe { libc::_exit(code) }
    }
    waitpid(Pid::from_raw(pid), None).expect("waitpid")
}

/// Sets no_new_privs and loads `filter`, as the runtime does before execve.
pub fn load(filter: &Filter) -> Result<Option<std::os::fd::OwnedFd>, i32> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(LOAD_FAILED);
    }
    filter.load().map_err(|_| LOAD_FAILED)
}

/// A raw syscall: Ok(return value) or Err(errno).
pub fn sys(nr: libc::c_long, a: [u64; 3]) -> Result<i64, i32> {
    // SAFETY: the tests only pass integers or pointers to live, NUL-terminated buffers.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2]) };
    if r < 0 {
        // SAFETY: __errno_location returns this thread's errno slot.
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(r)
    }
}

/// Loads `filter` in a child, runs `call` there and returns its errno (0 on success).
pub fn errno_in_child(filter: &Filter, call: impl FnOnce() -> Result<i64, i32>) -> WaitStatus {
    in_child(|| {
        if let Err(code) = load(filter) {
            return code;
        }
        match call() {
            Ok(_) => 0,
            Err(e) => e,
        }
    })
}

pub fn exited(status: WaitStatus) -> i32 {
    match status {
        WaitStatus::Exited(_, code) => code,
        other => panic!("child did not exit normally: {other:?}"),
    }
}
