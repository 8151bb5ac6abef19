//! `run`: create + start, then (in the foreground) forward signals to the
//! container, relay its terminal, wait for it and delete it, exiting with
//! its status (128+N when killed by signal N), as runc does.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::create::{create, CreateOptions};
use crate::error::{Error, Result, SysContext};
use crate::lifecycle::{self, Container};
use crate::state::{StateRoot, Status};

/// Returns the exit code for the runtime process.
pub fn run(root: &StateRoot, opts: &CreateOptions, detach: bool) -> Result<i32> {
    // Block signals before the clone: none may be lost between the clone
    // and the forwarding loop. The init resets its mask before execve.
    let all = SigSet::all();
    let mut old = SigSet::empty();
    if !detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut old)).ctx(|| "block signals".into())?;
    }
    let created = create(root, opts, !detach);
    let created = match created {
        Ok(c) => c,
        Err(e) => {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            return Err(e);
        }
    };
    let id = opts.id.clone();
    let dir = root.container_dir(&id);
    let container = Container { state: created.state.clone(), status: Status::Created, dir };
    let console = match created.console {
        // The init sent its pty master over our end of the socketpair.
        Some(sock) => Some(crate::sync::recv_fd(sock.as_fd()).ctx(|| "receive the pty master".into())?),
        None => None,
    };
    if let Err(e) = lifecycle::release_barrier(&container) {
        let _ = lifecycle::delete(root, &id, true);
        return Err(e);
    }
    let json = container.state.oci_state(Status::Running).to_string();
    crate::hooks::run_all_warn(
        "poststart",
        container.state.config.hooks().as_ref().and_then(|h| h.poststart().as_ref()),
        json.as_bytes(),
    );
    if detach {
        return Ok(0);
    }
    let code = supervise(created.pid, console.as_ref(), &all)?;
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    // The init is gone: remove the container as `runc run` does.
    let state = root.load(&id)?;
    lifecycle::destroy(root, &state)?;
    Ok(code)
}

fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Forward signals and relay the terminal until the init exits.
fn supervise(pid: Pid, console: Option<&OwnedFd>, blocked: &SigSet) -> Result<i32> {
    let sfd = SignalFd::with_flags(blocked, SfdFlags::SFD_CLOEXEC).ctx(|| "signalfd".into())?;
    let stdin = std::io::stdin();
    let _raw = match console {
        Some(_) => RawTerminal::enter(stdin.as_fd()),
        None => None,
    };
    if let Some(m) = console {
        copy_winsize(stdin.as_fd(), m.as_fd());
    }
    let mut stdin_open = console.is_some();
    loop {
        let mut fds = vec![libc::pollfd { fd: sfd.as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if let Some(m) = console {
            fds.push(libc::pollfd { fd: m.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            if stdin_open {
                fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
            }
        }
        // SAFETY: valid pollfd array.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                continue;
            }
            return Err(Error::sys("poll", nix::errno::Errno::last()));
        }
        if let Some(m) = console {
            if fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 && !copy(m.as_raw_fd(), 1) {
                // The pty closes when the last process using it exits.
            }
            if stdin_open && fds.len() > 2 && fds[2].revents & (libc::POLLIN | libc::POLLHUP) != 0 && !copy(0, m.as_raw_fd()) {
                stdin_open = false;
            }
        }
        if fds[0].revents & libc::POLLIN == 0 {
            continue;
        }
        let Ok(Some(info)) = sfd.read_signal() else { continue };
        let sig = info.ssi_signo as i32;
        if sig == libc::SIGCHLD {
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(ws) if ws.pid() == Some(pid) => {
                        if let Some(code) = exit_code(ws) {
                            if let Some(m) = console {
                                // Drain what the container wrote last.
                                while copy(m.as_raw_fd(), 1) {}
                            }
                            return Ok(code);
                        }
                    }
                    Ok(_) => {}
                }
            }
        } else if sig == libc::SIGWINCH {
            if let Some(m) = console {
                copy_winsize(stdin.as_fd(), m.as_fd());
            }
        } else {
            // SAFETY: kill with a pid and a signal number.
            unsafe { libc::kill(pid.as_raw(), sig) };
        }
    }
}

/// Copy what is available from one fd to another; false on EOF or error.
fn copy(from: i32, to: i32) -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: reading into a local buffer.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return false;
    }
    let mut off = 0usize;
    while off < n as usize {
        // SAFETY: writing from the filled part of the buffer.
        let w = unsafe { libc::write(to, buf[off..].as_ptr().cast(), n as usize - off) };
        if w <= 0 {
            return false;
        }
        off += w as usize;
    }
    true
}

fn copy_winsize(from: BorrowedFd, to: BorrowedFd) {
    let mut ws: libc::winsize = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize.
    unsafe {
        if libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Our stdin in raw mode while relaying a terminal, restored on drop.
struct RawTerminal {
    saved: termios::Termios,
}

impl RawTerminal {
    fn enter(fd: BorrowedFd) -> Option<RawTerminal> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, termios::SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), termios::SetArg::TCSANOW, &self.saved);
    }
}

