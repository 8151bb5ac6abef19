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
        // Resolved inside the root and created as a plain file: a
        // /dev/console symlink planted in the image cannot redirect the bind
        // (CVE-2025-52565).
        let target = paths::create_in_root(root.as_fd(), Path::new("/dev/console"), Kind::File)
            .ctx(|| "create /dev/console".into())?;
        let st = nix::sys::stat::fstat(target.as_fd()).ctx(|| "stat /dev/console".into())?;
        let t = st.st_mode & libc::S_IFMT;
        if t != libc::S_IFREG && t != libc::S_IFCHR {
            return Err(Error::Unsupported(
                "/dev/console in the container is neither a file nor a device".into(),
            ));
        }
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

/// Connect to a console socket path (create/run/exec --console-socket).
pub fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let s = std::os::unix::net::UnixStream::connect(path).map_err(|e| Error::io(path, e))?;
    Ok(s.into())
}
