//! CVE-2019-5736: a container must not be able to overwrite the runtime
//! binary. The container's init and exec processes are clones of this
//! process, so until execve their /proc/PID/exe is the runtime binary; and
//! an image whose program is `#!/proc/self/exe` makes the kernel run the
//! binary that is /proc/self/exe at that execve *as* the container
//! process, which can then open its own exe and write it once the runtime
//! exits. Until execve the clone is non-dumpable, so what matters is what
//! /proc/self/exe is at the final execve.
//!
//! `create`, `run` ([`for_init`]) and `exec` ([`for_exec`]): the new
//! process does not exec the program itself but through the exec
//! trampoline (`crate::trampoline`), a tiny program in a sealed memfd made
//! for this one process: at the final execve, /proc/self/exe is that memfd,
//! never the host binary. When the trampoline cannot be used (not x86_64;
//! hooks that run inside the container; an AppArmor profile; a seccomp
//! filter that does not plainly allow the trampoline's syscalls; no
//! executable memfd), the command falls back to the protection below,
//! decided as soon as the config (or the exec's process) is known, before
//! anything was created.
//!
//! The fallback (`reexec_unless`): run from a read-only view of the
//! binary. When the binary's own mount is writable, we clone a detached
//! bind mount of just that file (open_tree), make it read-only
//! (mount_setattr) and re-exec through it (execveat). /proc/self/exe then
//! names a file on a read-only mount nobody else can reach: every open for
//! writing fails with EROFS. No copy is made (crun copies the binary into a
//! memfd) and nothing appears in any mount table. When the binary already
//! sits on a read-only mount, nothing is done at all. Without the privilege
//! to clone a mount (rootless use), the binary is copied into a sealed
//! memfd instead, as crun does. The re-executed command finds its binary
//! protected and execs directly; it never re-executes again.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// Set in the re-executed process so a kernel that reports the detached
/// mount as writable cannot send us into a loop.
const MARKER: &str = "_ONGGI_RUNTIME_PROTECTED";

/// Is /proc/self/exe on a read-only mount, or a write-sealed memfd?
pub fn exe_is_protected() -> bool {
    // A write access check answers EROFS on a read-only mount, as statvfs's
    // ST_RDONLY says, but without statfs (ext4 sums its free counts: 10 us).
    if nix::unistd::access("/proc/self/exe", nix::unistd::AccessFlags::W_OK)
        == Err(nix::errno::Errno::EROFS)
    {
        return true;
    }
    match std::fs::File::open("/proc/self/exe") {
        Ok(f) => {
            // SAFETY: fcntl(F_GET_SEALS) on an fd we own.
            let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
            seals > 0 && seals & libc::F_SEAL_WRITE != 0
        }
        Err(_) => false,
    }
}

/// A detached read-only bind mount of the binary (needs CAP_SYS_ADMIN).
fn readonly_view(path: &CString) -> std::result::Result<OwnedFd, nix::errno::Errno> {
    // SAFETY: open_tree(AT_FDCWD, path, OPEN_TREE_CLONE|O_CLOEXEC) with a
    // valid C string; the fd is checked.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: a new fd we own.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    crate::rootfs::mounts::setattr(tree.as_raw_fd(), MOUNT_ATTR_RDONLY, 0, false)?;
    Ok(tree)
}

/// A sealed memfd copy of the binary.
fn sealed_copy(exe: &std::path::Path) -> Result<OwnedFd> {
    // SAFETY: memfd_create with a C string literal and flags.
    let fd = unsafe {
        libc::memfd_create(
            c"onggi-runtime".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(Error::sys(
            "memfd_create for the runtime binary",
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: a new fd we own.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut src = std::fs::File::open(exe).map_err(|e| Error::io(exe, e))?;
    let mut dst = std::fs::File::from(memfd.try_clone().map_err(|e| Error::io("memfd", e))?);
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io(exe, e))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl(F_ADD_SEALS) on our memfd.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(Error::sys(
            "seal the runtime binary's memfd",
            nix::errno::Errno::last(),
        ));
    }
    Ok(memfd)
}

/// How `create` protects the container init's final execve (and, through
/// [`for_exec`], `exec` its process's): the exec
/// trampoline's memfd, or None when the init may exec directly because
/// /proc/self/exe is already protected, possibly after a re-exec from a
/// read-only view (which this does when the trampoline cannot be used:
/// call it before anything is created). Errors: why the re-exec is
/// impossible.
pub fn for_init(
    hooks: &oci_spec::runtime::Hooks,
    apparmor: bool,
    seccomp: Option<&onggi_seccomp::Filter>,
) -> Result<Option<OwnedFd>> {
    let protected = exe_is_protected();
    if !protected {
        let why = match crate::trampoline::obstacle(hooks, apparmor, seccomp) {
            None => match crate::trampoline::memfd() {
                Ok(fd) => return Ok(Some(fd)),
                Err(e) => e.to_string(),
            },
            Some(why) => why,
        };
        crate::log::debug(&format!(
            "no exec trampoline ({why}): re-exec from a read-only view of the runtime"
        ));
    }
    reexec_unless(protected)?;
    Ok(None)
}

/// [`for_init`] for `exec`: the same choice, made once the exec's process
/// is known (its AppArmor profile, the container's seccomp filter). No
/// hooks run in an exec'd process.
pub fn for_exec(
    apparmor: bool,
    seccomp: Option<&onggi_seccomp::Filter>,
) -> Result<Option<OwnedFd>> {
    for_init(&oci_spec::runtime::Hooks::default(), apparmor, seccomp)
}

/// Re-exec from a read-only view of our binary unless `protected` (is
/// /proc/self/exe protected already). Returns only when no re-exec was
/// needed (or it is impossible, in which case the error says why and the
/// command must not go on). After the re-exec the binary must be
/// protected: the re-executed process never re-executes again.
fn reexec_unless(protected: bool) -> Result<()> {
    if std::env::var_os(MARKER).is_some() {
        // SAFETY: the runtime is single-threaded (it never starts threads).
        unsafe { std::env::remove_var(MARKER) };
        if protected {
            return Ok(());
        }
        return Err(Error::Unsupported(
            "runtime binary is still writable after re-exec from a read-only mount".into(),
        ));
    }
    if protected {
        return Ok(());
    }
    let exe = std::fs::read_link("/proc/self/exe").map_err(|e| Error::io("/proc/self/exe", e))?;
    let path = CString::new(exe.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Unsupported("runtime path has a NUL byte".into()))?;
    let tree = match readonly_view(&path) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::EPERM) => sealed_copy(&exe)?,
        Err(e) => {
            return Err(Error::sys(
                format!("read-only view of the runtime binary {}", exe.display()),
                e,
            ))
        }
    };
    // The arguments from the kernel, not std::env::args: onggi-runtime may
    // be linked against musl, where std's argv hook is not called.
    let cmdline =
        std::fs::read("/proc/self/cmdline").map_err(|e| Error::io("/proc/self/cmdline", e))?;
    // Each argument ends with a NUL; an argument may be empty.
    let args: Vec<CString> = cmdline
        .strip_suffix(&[0])
        .unwrap_or(&cmdline)
        .split(|b| *b == 0)
        .filter_map(|a| CString::new(a).ok())
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend_from_slice(v.as_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{MARKER}=1")).unwrap_or_default());
    let errno = crate::init::process::execveat_fd(
        std::os::fd::AsFd::as_fd(&tree),
        args.iter().map(|a| a.as_c_str()),
        &env,
    );
    Err(Error::sys(
        format!("re-exec {} from its read-only view", exe.display()),
        errno,
    ))
}
