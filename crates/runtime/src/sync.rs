//! The parent/child channel during create: a SOCK_SEQPACKET socketpair, so
//! every message arrives whole. One tag byte, then a payload.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::error::{Error, Result};

/// Parent -> child: ids are mapped, go on.
pub const MAPPED: u8 = b'U';
/// Child -> parent: mounts are done, run prestart/createRuntime hooks.
pub const HOOKS: u8 = b'H';
/// Parent -> child: hooks ran; payload is the state JSON for the child's hooks.
pub const HOOKS_DONE: u8 = b'h';
/// Child -> parent: init waits at the start barrier.
pub const READY: u8 = b'R';
/// Child -> parent: the seccomp notify fd follows in an SCM_RIGHTS message.
pub const SECCOMP: u8 = b'S';
/// Child -> parent: payload is an error message.
pub const ERROR: u8 = b'E';

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("socketpair for the init channel", e))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, tag: u8, payload: &[u8]) -> nix::Result<()> {
        let mut buf = Vec::with_capacity(1 + payload.len());
        buf.push(tag);
        buf.extend_from_slice(payload);
        loop {
            match socket::send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return r.map(|_| ()),
            }
        }
    }

    /// Receive one message. `None` when the other side closed the channel.
    pub fn recv(&self) -> nix::Result<Option<(u8, Vec<u8>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(0) => return Ok(None),
                Ok(n) => return Ok(Some((buf[0], buf[1..n].to_vec()))),
            }
        }
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Send one fd with SCM_RIGHTS over a unix socket (console socket protocol:
/// the payload names the fd, runc sends the pty master this way).
pub fn send_fd(sock: BorrowedFd, name: &[u8], fd: RawFd) -> nix::Result<()> {
    let iov = [std::io::IoSlice::new(name)];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    socket::sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None).map(|_| ())
}

/// Receive one fd sent with SCM_RIGHTS.
pub fn recv_fd(sock: BorrowedFd) -> nix::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = socket::recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(nix::errno::Errno::EBADMSG)
}
