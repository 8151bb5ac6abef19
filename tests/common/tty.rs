//! Terminals: the console socket and reading from a pty master.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Receive one fd sent with SCM_RIGHTS on `sock` (runc's console-socket
/// protocol).
pub fn recv_scm_fd(sock: &std::os::unix::net::UnixStream) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr with valid buffers; CMSG macros on that buffer; we
    // take ownership of the fd the kernel installed for us.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        if libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) < 0 {
            return None;
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32);
        Some(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// A console socket: a listening unix socket whose first connection's
/// SCM_RIGHTS fd (the pty master) is received by a thread.
pub struct ConsoleSocket {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    rx: std::sync::mpsc::Receiver<Option<std::os::fd::OwnedFd>>,
}

impl ConsoleSocket {
    pub fn new() -> ConsoleSocket {
        let dir = tempfile::Builder::new()
            .prefix("onggi-rt-console")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind console socket");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let got = listener.accept().ok().and_then(|(c, _)| recv_scm_fd(&c));
            let _ = tx.send(got);
        });
        ConsoleSocket {
            _dir: dir,
            path,
            rx,
        }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }

    /// The received master (panics if nothing came within `timeout`).
    #[track_caller]
    pub fn master(&self, timeout: Duration) -> fs::File {
        match self.rx.recv_timeout(timeout) {
            Ok(Some(fd)) => fs::File::from(fd),
            Ok(None) => panic!("console socket: a connection but no fd"),
            Err(_) => panic!("console socket: no pty master within {timeout:?}"),
        }
    }
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        ConsoleSocket::new()
    }
}

/// Read from a pty master (on a thread) until `want` appears in the text
/// read, EOF/EIO, or `timeout`; returns everything read.
pub fn read_until(master: &fs::File, want: &str, timeout: Duration) -> String {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + timeout;
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let mut f = master;
    loop {
        if String::from_utf8_lossy(&all).contains(want) {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(100) as i32) };
        if r <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}
