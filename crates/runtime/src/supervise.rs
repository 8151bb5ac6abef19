//! Waiting for a foreground container process: forward every signal to
//! it, relay its terminal (raw mode, window size), and return its exit
//! code (128+N when killed by signal N). Used by `run` and `exec`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::sys::signal::SigSet;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result, SysContext};

fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Forward signals and relay the terminal until the init exits.
pub(crate) fn supervise(pid: Pid, console: Option<&OwnedFd>, blocked: &SigSet) -> Result<i32> {
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
        let mut fds = vec![libc::pollfd {
            fd: sfd.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(m) = console {
            fds.push(libc::pollfd {
                fd: m.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            if stdin_open {
                fds.push(libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                });
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
            if stdin_open
                && fds.len() > 2
                && fds[2].revents & (libc::POLLIN | libc::POLLHUP) != 0
                && !copy(0, m.as_raw_fd())
            {
                stdin_open = false;
            }
        }
        if fds[0].revents & libc::POLLIN == 0 {
            continue;
        }
        let Ok(Some(info)) = sfd.read_signal() else {
            continue;
        };
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

pub(crate) fn copy_winsize(from: BorrowedFd, to: BorrowedFd) {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
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
        let _ = termios::tcsetattr(
            std::io::stdin().as_fd(),
            termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}
