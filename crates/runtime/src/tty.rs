//! Terminals: the container's pty is allocated inside its own devpts, the
//! master goes to the console socket (runc's protocol: one SCM_RIGHTS
//! message), the slave becomes the process's controlling terminal and
//! stdio, and is bound onto /dev/console.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};

use crate::error::{Error, Result, SysContext};
use crate::rootfs::paths::{self, Kind};

/// In the container, after pivot_root: allocate the pty, send the master,
/// make the slave our terminal and stdio.
pub fn setup(console_sock: BorrowedFd, size: Option<(u16, u16)>, bind_console: bool) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "open /dev/ptmx".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = ptsname_r(&master).ctx(|| "ptsname".into())?;
    let slave: OwnedFd = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {name}"))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ with a valid winsize on a pty fd.
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    if bind_console {
        let root: OwnedFd = std::fs::File::open("/")
            .map_err(|e| Error::io("/", e))?
            .into();
        // CVE-2025-52565: the image's /dev/console may be a symlink (to
        // /proc/sys/kernel/core_pattern, say) or a procfs file. Resolve /dev
        // inside the root, look at "console" without following it, replace
        // anything but a plain file or device node with a fresh empty file,
        // and refuse a target on procfs.
        let dev = paths::create_in_root(root.as_fd(), Path::new("/dev"), Kind::Dir)
            .ctx(|| "open /dev".into())?;
        let target = console_target(dev.as_fd())?;
        let tp = paths::fd_path(target.as_fd());
        mount(
            Some(name.as_str()),
            tp.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("bind {name} on /dev/console"))?;
    }
    crate::sync::send_fd(console_sock, b"/dev/ptmx", master.as_raw_fd())
        .ctx(|| "send the pty master over the console socket".into())?;
    drop(master);
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    // SAFETY: TIOCSCTTY on our pty slave.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::sys(
            "make the pty the controlling terminal",
            nix::errno::Errno::last(),
        ));
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto stdio of this process.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(Error::sys(
                "dup pty slave onto stdio",
                nix::errno::Errno::last(),
            ));
        }
    }
    Ok(())
}

/// An O_PATH fd of `console` in the /dev directory `dev`: a regular file
/// or character device that is not on procfs, never a symlink.
fn console_target(dev: BorrowedFd) -> Result<OwnedFd> {
    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::Mode;
    let st = nix::sys::stat::fstatat(dev, "console", AtFlags::AT_SYMLINK_NOFOLLOW);
    let keep =
        matches!(&st, Ok(st) if matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFCHR));
    if st.is_ok() && !keep {
        nix::unistd::unlinkat(dev, "console", nix::unistd::UnlinkatFlags::NoRemoveDir)
            .ctx(|| "remove /dev/console (not a file or device)".into())?;
    }
    if !keep {
        let f = nix::fcntl::openat(
            dev,
            "console",
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .ctx(|| "create /dev/console".into())?;
        drop(f);
    }
    let fd: OwnedFd = nix::fcntl::openat(
        dev,
        "console",
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /dev/console".into())?;
    let st = nix::sys::stat::fstat(fd.as_fd()).ctx(|| "stat /dev/console".into())?;
    let fs = nix::sys::statfs::fstatfs(fd.as_fd()).ctx(|| "statfs /dev/console".into())?;
    if !matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFCHR)
        || fs.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC
    {
        return Err(Error::Unsupported(
            "/dev/console in the container is not a plain file or device outside /proc".into(),
        ));
    }
    Ok(fd)
}

/// Connect to a console socket path (create/run/exec --console-socket).
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path).map_err(|e| Error::io(path, e))?;
    Ok(s.into())
}
