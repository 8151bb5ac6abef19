//! The exec trampoline (CVE-2019-5736, see `selfprotect`): a tiny static
//! x86_64 program without libc, run from a sealed memfd, that performs the
//! final execve of a container's init (`create`) or of an `exec`'d process.
//!
//! The init is a clone of the runtime: if it called execve itself, its
//! /proc/self/exe at that moment would be the host's runtime binary, and a
//! program that is `#!/proc/self/exe` (or a symlink to it) would make the
//! kernel run that binary inside the container. Instead the init calls
//!
//! ```text
//! execveat(memfd, "", [fd, path, argv...], envp, AT_EMPTY_PATH)
//! ```
//!
//! and the trampoline, whose /proc/self/exe is the memfd (made for this one
//! container, sealed against writes), does:
//!
//! 1. parse `argv[0]` as a decimal fd, the error channel: the write end of
//!    the exec fifo (which `start` reads) for the init, the sync channel
//!    (a SOCK_SEQPACKET socket, which `exec`'s parent reads) for `exec`;
//!    anything but 1+ digits: exit 126 and nothing else (that is what a
//!    `#!/proc/self/exe` script gets);
//! 2. `fcntl(fd, F_SETFD, FD_CLOEXEC)`, so the fd does not reach the program;
//! 3. `execve(argv[1], &argv[2], envp)`;
//! 4. if 2 or 3 failed: writev one record to the fd, [`MAGIC`], the errno
//!    (4 bytes, little endian) and the path (the bytes of `argv[1]`), then
//!    exit 1. [`decode`] turns it back into the message `start` or `exec`
//!    prints. On the seqpacket channel the one writev is one message, read
//!    whole; its first byte (the magic's NUL) is never the tag of a framed
//!    message.
//!
//! Cost: one memfd_create, one write and one fcntl in the parent, and an
//! exec of a ~430-byte program that maps one page and makes two syscalls;
//! the re-exec it replaces runs the whole runtime (glibc start-up included)
//! a second time.
//!
//! Unlike the init before it, the trampoline is dumpable for the few
//! microseconds it runs (exec resets that): a process in the container's
//! pid namespace with the same uid could open its /proc/PID/exe (the sealed
//! memfd: nothing of the host) or its fd of the exec fifo, and so hold
//! `start` until it closes it or make `start` print a bogus error. Only the
//! container's own processes (or those of a container sharing its pid
//! namespace) can do so. An execute-only memfd would not close this: on
//! the 6.18 kernel this was written on, exec of an unreadable program
//! left the process dumpable.
//!
//! The caller decides whether the trampoline can be used ([`obstacle`]):
//! only on x86_64, without hooks that run inside the container, without an
//! AppArmor exec transition, and with a seccomp filter that lets every
//! syscall of this path through.

use std::ffi::{CStr, CString};
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::error::Error;

/// The first bytes of an error record. Errors the init writes itself are
/// text and never start with a NUL byte.
pub const MAGIC: [u8; 12] = *b"\0onggi-exec\0";

/// The trampoline's exit status when its arguments are not its own (for
/// example when a `#!/proc/self/exe` script runs it as an interpreter).
pub const EXIT_USAGE: i32 = 126;

/// A failed exec, as the trampoline reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecFailure {
    pub errno: i32,
    pub path: Vec<u8>,
}

impl std::fmt::Display for ExecFailure {
    /// As the init's own message for a failed execve: `exec "<path>": ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exec {:?}: {}",
            String::from_utf8_lossy(&self.path),
            std::io::Error::from_raw_os_error(self.errno)
        )
    }
}

/// The record the trampoline writes (the assembly below builds the same
/// bytes; the tests check both against [`decode`]).
pub fn encode(errno: i32, path: &[u8]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(MAGIC.len() + 4 + path.len());
    rec.extend_from_slice(&MAGIC);
    rec.extend_from_slice(&(errno as u32).to_le_bytes());
    rec.extend_from_slice(path);
    rec
}

/// A record written by the trampoline, or None for anything else (an error
/// message of the init itself).
pub fn decode(msg: &[u8]) -> Option<ExecFailure> {
    let rest = msg.strip_prefix(&MAGIC[..])?;
    let (errno, path) = rest.split_first_chunk::<4>()?;
    Some(ExecFailure {
        errno: u32::from_le_bytes(*errno) as i32,
        path: path.to_vec(),
    })
}

/// x86_64 numbers and constants of the syscalls the trampoline path makes.
mod nr {
    pub const WRITEV: u32 = 20;
    pub const EXECVE: u32 = 59;
    pub const FCNTL: u32 = 72;
    pub const EXIT_GROUP: u32 = 231;
    pub const EXECVEAT: u32 = 322;
    pub const F_SETFD: u64 = 2;
    pub const FD_CLOEXEC: u64 = 1;
    pub const AT_EMPTY_PATH: u64 = 0x1000;
}

/// Every syscall of the path from the init's fcntl to the program, with
/// the arguments a seccomp filter sees: fds and exit statuses as any value
/// (`None`), pointers as 0, unused argument registers as any value.
const SYSCALLS: [(&str, u32, [Option<u64>; 6]); 6] = [
    // The init (or exec child): clear FD_CLOEXEC on the error channel
    // (after the seccomp filter is on), then exec the trampoline.
    (
        "fcntl(F_SETFD, 0)",
        nr::FCNTL,
        [None, Some(nr::F_SETFD), Some(0), None, None, None],
    ),
    (
        "execveat(AT_EMPTY_PATH)",
        nr::EXECVEAT,
        [
            None,
            Some(0),
            Some(0),
            Some(0),
            Some(nr::AT_EMPTY_PATH),
            None,
        ],
    ),
    // The trampoline.
    (
        "fcntl(F_SETFD, FD_CLOEXEC)",
        nr::FCNTL,
        [
            None,
            Some(nr::F_SETFD),
            Some(nr::FD_CLOEXEC),
            None,
            None,
            None,
        ],
    ),
    (
        "execve",
        nr::EXECVE,
        [Some(0), Some(0), Some(0), None, None, None],
    ),
    (
        "writev",
        nr::WRITEV,
        [None, Some(0), Some(2), None, None, None],
    ),
    ("exit_group", nr::EXIT_GROUP, [None; 6]),
];

/// Why the trampoline cannot protect this container's exec, if it cannot.
pub fn obstacle(
    hooks: &oci_spec::runtime::Hooks,
    apparmor: bool,
    seccomp: Option<&onggi_seccomp::Filter>,
) -> Option<String> {
    if !cfg!(target_arch = "x86_64") {
        return Some("the exec trampoline is x86_64 only".into());
    }
    // Forked from the init inside the container: they would run the host
    // binary there, and only the read-only view protects it.
    if [hooks.create_container(), hooks.start_container()]
        .iter()
        .any(|h| h.as_ref().is_some_and(|v| !v.is_empty()))
    {
        return Some("createContainer or startContainer hooks are set".into());
    }
    // The profile would apply to the trampoline, not to the program.
    if apparmor {
        return Some("an AppArmor profile is set".into());
    }
    if let Some(f) = seccomp {
        for (name, nr, args) in SYSCALLS {
            if !f.allows_x86_64(nr, args) {
                return Some(format!("the seccomp filter does not plainly allow {name}"));
            }
        }
    }
    None
}

/// Exec `path` with `args` and `env` through the trampoline in `memfd`,
/// reporting a failure of the final execve to `fifo` (the exec fifo or the
/// exec channel), which is made inheritable here for the trampoline; it
/// makes it close-on-exec again before the program runs. Returns only if
/// the trampoline itself could not run.
pub fn exec(
    memfd: BorrowedFd<'_>,
    fifo: BorrowedFd<'_>,
    path: &CStr,
    args: &[CString],
    env: &[CString],
) -> Error {
    use std::os::fd::AsRawFd;
    if let Err(e) = nix::fcntl::fcntl(
        fifo,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    ) {
        return Error::sys("clear close-on-exec on the exec error channel", e);
    }
    let fd = CString::new(fifo.as_raw_fd().to_string()).unwrap_or_default();
    let argv = [fd.as_c_str(), path]
        .into_iter()
        .chain(args.iter().map(|a| a.as_c_str()));
    let errno = crate::init::process::execveat_fd(memfd, argv, env);
    Error::sys(format!("exec {path:?} through the trampoline"), errno)
}

/// A sealed memfd holding the trampoline, close-on-exec.
#[cfg(target_arch = "x86_64")]
pub fn memfd() -> crate::Result<OwnedFd> {
    x86_64::memfd()
}

/// The trampoline is x86_64 only.
#[cfg(not(target_arch = "x86_64"))]
pub fn memfd() -> crate::Result<OwnedFd> {
    Err(Error::Unsupported(
        "the exec trampoline is x86_64 only".into(),
    ))
}

#[cfg(target_arch = "x86_64")]
pub use x86_64::image;

#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        for (errno, path) in [
            (libc::ENOENT, &b"/bin/true"[..]),
            (libc::ENOEXEC, b""),
            (4095, "/caf\u{e9}/\"q\"".as_bytes()),
        ] {
            let rec = encode(errno, path);
            assert_eq!(
                decode(&rec),
                Some(ExecFailure {
                    errno,
                    path: path.to_vec()
                })
            );
        }
        let msg = decode(&encode(libc::ENOENT, b"/no/such"))
            .unwrap()
            .to_string();
        assert_eq!(
            msg,
            "exec \"/no/such\": No such file or directory (os error 2)"
        );
        // The init's own errors are text.
        assert_eq!(
            decode(b"exec \"/x\": ENOENT: No such file or directory"),
            None
        );
        assert_eq!(decode(&MAGIC[..]), None, "no errno");
        assert_eq!(decode(&encode(1, b"/x")[1..]), None);
    }

    #[test]
    fn obstacles() {
        let hooks = oci_spec::runtime::Hooks::default();
        let none = obstacle(&hooks, false, None);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(none, None);
        } else {
            assert!(none.is_some());
            return;
        }
        assert!(obstacle(&hooks, true, None).is_some(), "apparmor");
        let hook: oci_spec::runtime::Hook =
            serde_json::from_value(serde_json::json!({"path": "/bin/true"})).unwrap();
        let mut with = hooks.clone();
        with.set_start_container(Some(vec![hook.clone()]));
        assert!(obstacle(&with, false, None).is_some(), "startContainer");
        let mut with = hooks.clone();
        with.set_create_container(Some(vec![hook.clone()]));
        assert!(obstacle(&with, false, None).is_some(), "createContainer");
        let mut with = hooks.clone();
        with.set_create_runtime(Some(vec![hook.clone()]));
        with.set_poststart(Some(vec![hook]));
        assert_eq!(obstacle(&with, false, None), None, "host-side hooks");
        let filter = |json: serde_json::Value| {
            onggi_seccomp::compile(&serde_json::from_value(json).unwrap()).unwrap()
        };
        let allow = filter(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        assert_eq!(obstacle(&hooks, false, Some(&allow)), None);
        for name in ["execveat", "execve", "fcntl", "writev", "exit_group"] {
            let deny = filter(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": [name], "action": "SCMP_ACT_ERRNO"}]}));
            let why = obstacle(&hooks, false, Some(&deny));
            assert!(
                why.as_deref().is_some_and(|w| w.contains(name)),
                "{name}: {why:?}"
            );
        }
    }
}

/// The real trampoline, run as a program from its sealed memfd (a file
/// written here could be ETXTBSY: other test threads fork meanwhile).
#[cfg(all(test, target_arch = "x86_64"))]
mod run_tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    /// A pipe whose write end is inherited (not close-on-exec).
    fn pipe() -> (std::fs::File, OwnedFd) {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        // SAFETY: fcntl on a pipe fd we own.
        assert_eq!(unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFD, 0) }, 0);
        (r.into(), w)
    }

    /// Run the trampoline with argv `[arg0, rest...]`, "FD" replaced by the
    /// number of an inherited pipe's write end: (exit code, what the pipe
    /// got, stdout).
    fn run(arg0: &str, rest: &[&str]) -> (Option<i32>, Vec<u8>, String) {
        let tramp = memfd().expect("trampoline memfd");
        let (mut r, w) = pipe();
        let fd = w.as_raw_fd().to_string();
        let out = Command::new(format!("/proc/self/fd/{}", tramp.as_raw_fd()))
            .arg0(arg0.replace("FD", &fd))
            .args(rest.iter().map(|a| a.replace("FD", &fd)))
            .env_clear()
            .env("TRAMP_TEST", "yes")
            .output()
            .unwrap();
        drop(w);
        let mut rec = Vec::new();
        r.read_to_end(&mut rec).unwrap();
        (
            out.status.code(),
            rec,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    #[test]
    fn image_is_small_and_starts_like_an_elf() {
        let img = image();
        assert_eq!(&img[..4], b"\x7fELF");
        assert!(img.len() < 1024, "{} bytes", img.len());
        assert!(img.ends_with(&MAGIC), "the magic closes the code");
    }

    #[test]
    fn memfd_is_sealed_and_close_on_exec() {
        let m = memfd().unwrap();
        // SAFETY: fcntl queries on an fd we own.
        let (seals, fdflags) = unsafe {
            (
                libc::fcntl(m.as_raw_fd(), libc::F_GET_SEALS),
                libc::fcntl(m.as_raw_fd(), libc::F_GETFD),
            )
        };
        let want = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        assert_eq!(seals & want, want);
        assert_eq!(fdflags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        let mut f = std::fs::File::from(m);
        assert!(std::io::Write::write_all(&mut f, b"x").is_err(), "sealed");
    }

    #[test]
    fn bad_fd_argument_exits_126_and_does_nothing() {
        for arg0 in ["", "x", "1x", "-1", "/proc/self/exe", "99999999999", " FD"] {
            let (code, rec, out) = run(arg0, &["/bin/sh", "sh", "-c", "echo ran"]);
            assert_eq!(code, Some(EXIT_USAGE), "{arg0:?}");
            assert!(
                rec.is_empty() && out.is_empty(),
                "{arg0:?}: {rec:?} {out:?}"
            );
        }
        // Only argv[0]: no path.
        let (code, rec, _) = run("FD", &[]);
        assert_eq!((code, rec.is_empty()), (Some(EXIT_USAGE), true));
    }

    #[test]
    fn execs_the_program_with_its_argv_and_env_and_closes_the_fd() {
        let (code, rec, out) = run(
            "FD",
            &[
                "/bin/sh",
                "my-sh",
                "-c",
                "[ -e /proc/$$/fd/FD ] && echo leaked FD; echo \"$0 $1 $TRAMP_TEST\"; cat /proc/$$/cmdline",
                "zero",
                "one",
            ],
        );
        assert_eq!(code, Some(0), "{out}");
        assert!(rec.is_empty(), "EOF, no record: {rec:?}");
        assert!(out.starts_with("zero one yes\nmy-sh\0-c\0[ -e"), "{out:?}");
        assert!(out.ends_with("\0zero\0one\0"), "{out:?}");
    }

    #[test]
    fn failed_exec_writes_a_record_and_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage");
        std::fs::write(&garbage, b"not a program").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let garbage = garbage.to_str().unwrap().to_string();
        for (path, errno) in [
            ("/no/such/program", libc::ENOENT),
            (garbage.as_str(), libc::ENOEXEC),
            ("/", libc::EACCES),
        ] {
            let (code, rec, _) = run("FD", &[path, "arg0"]);
            assert_eq!(code, Some(1), "{path}");
            assert_eq!(
                decode(&rec),
                Some(ExecFailure {
                    errno,
                    path: path.as_bytes().to_vec()
                }),
                "{path}: {rec:?}"
            );
            assert_eq!(rec, encode(errno, path.as_bytes()));
        }
    }

    #[test]
    fn closed_fd_is_not_used_and_exits_1() {
        // fcntl fails (EBADF): no exec with an fd that might be open later.
        let (code, rec, out) = run("1000", &["/bin/sh", "sh", "-c", "echo ran"]);
        assert_eq!((code, rec.is_empty(), out.as_str()), (Some(1), true, ""));
    }
}
