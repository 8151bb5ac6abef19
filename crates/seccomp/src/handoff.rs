//! Passing the notify listener fd from the container process to the runtime.
//!
//! load() runs in the container process, after the runtime forked it, and [`Filter::load`]
//! returns the listener fd there; the runtime parent, outside the container, is the one that
//! talks to the agent. These two functions carry the fd across a unix socket (typically the
//! runtime's sync socketpair) with SCM_RIGHTS. The sending side does not allocate, so it is
//! safe in a child forked from a multi-threaded runtime.
//!
//! [`Filter::load`]: crate::Filter::load

use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// Room for one SCM_RIGHTS message with one fd, suitably aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 32]);

/// Sends `fd` over the connected unix socket `sock` with SCM_RIGHTS, along with one byte
/// `tag` of payload (stream sockets cannot carry ancillary data alone).
///
/// Async-signal-safe: no allocation. The caller may close its copy of `fd` afterwards.
pub fn send_fd(sock: BorrowedFd, fd: BorrowedFd, tag: u8) -> Result<(), Errno> {
    let mut payload = [tag];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = CmsgBuf([0; 32]);
    // SAFETY: CMSG_SPACE is pure arithmetic.
    let space = unsafe { libc::CMSG_SPACE(size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msghdr is plain data; all-zero is its empty value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at `buf`, which is aligned for cmsghdr and at least
    // CMSG_SPACE(sizeof(int)) bytes long, so the first header and its data fit in it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(Errno::EINVAL);
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
    }
    loop {
        // SAFETY: `msg` and everything it points to live on this stack frame.
        let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        match Errno::result(r) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Receives an fd sent by [`send_fd`] on `sock`; returns it (close-on-exec) and the tag byte.
pub fn recv_fd(sock: BorrowedFd) -> Result<(OwnedFd, u8), Errno> {
    let mut payload = [0u8];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut buf = CmsgBuf([0; 32]);
    // SAFETY: msghdr is plain data; all-zero is its empty value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = buf.0.as_mut_ptr().cast();
    msg.msg_controllen = buf.0.len() as _;
    let n = loop {
        // SAFETY: `msg` points at `iov` and `buf`, both alive and writable for the call.
        let r = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        match Errno::result(r) {
            Ok(n) => break n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    };
    if n == 0 {
        // The peer closed the socket without sending.
        return Err(Errno::ECONNRESET);
    }
    let mut received = None;
    // SAFETY: the kernel filled `buf` with msg_controllen bytes of well-formed headers; the
    // CMSG_* macros only walk within them.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
                // Every fd received is ours to close; keep the first.
                let owned = OwnedFd::from_raw_fd(fd);
                received.get_or_insert(owned);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(Errno::EMSGSIZE);
    }
    received.map(|fd| (fd, payload[0])).ok_or(Errno::EBADMSG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};
    use std::os::fd::AsFd;

    #[test]
    fn an_fd_crosses_a_socketpair() {
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let mut file = tempfile::tempfile().expect("tempfile");
        file.write_all(b"hello").expect("write");
        send_fd(a.as_fd(), file.as_fd(), 7).expect("send");
        let (fd, tag) = recv_fd(b.as_fd()).expect("recv");
        assert_eq!(tag, 7);
        let mut got = std::fs::File::from(fd);
        assert_eq!(got.stream_position().expect("same open file"), 5);
        drop(a);
        assert_eq!(recv_fd(b.as_fd()).unwrap_err(), Errno::ECONNRESET);
    }
}
