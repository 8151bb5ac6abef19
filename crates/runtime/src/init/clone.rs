//! One clone3 for the container init: every new namespace at once and, on
//! cgroup v2, straight into the container's cgroup (CLONE_INTO_CGROUP),
//! so the init never runs a single instruction outside its limits.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::unistd::Pid;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Fork-like clone3: returns `Some(child)` in the parent and `None` in the
/// child. With no stack given, the child runs on a copy-on-write copy of
/// the parent's stack exactly as after fork(2).
///
/// The caller must be single-threaded (the runtime never starts threads),
/// so the child may keep using the allocator and std.
pub fn fork_into(flags: u64, cgroup_fd: Option<RawFd>) -> Result<Option<Pid>, Errno> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like
    // fork(2); the struct is valid for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let r = match (r, Errno::last()) {
        // No clone3: a kernel before 5.3, or a seccomp filter that refuses
        // it with ENOSYS (Docker's default profile, valgrind). clone(2) does
        // the same without CLONE_INTO_CGROUP, which only v2 asks for.
        (-1, Errno::ENOSYS) if cgroup_fd.is_none() => {
            // SAFETY: clone without CLONE_VM and with a null stack behaves
            // like fork(2); no pointer arguments are passed.
            unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    flags | libc::SIGCHLD as u64,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            }
        }
        (r, _) => r,
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}
