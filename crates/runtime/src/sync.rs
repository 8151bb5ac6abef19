//! The parent/child channel during create: a SOCK_SEQPACKET socketpair, so
//! every message arrives whole. One tag byte, then a payload.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

use crate::error::{Error, Result};

/// Parent -> child: ids are mapped, go on.
pub const MAPPED: u8 = b'U';
/// Parent -> child (cgroup v1): the cgroup exists and has its limits; the
/// message carries one `tasks` fd per hierarchy (SCM_RIGHTS) and, as
/// payload, their hierarchy names, one a line. No fds: there is no cgroup
/// to enter (rootless, where none could be created).
pub const CGROUP: u8 = b'C';
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

/// A message with the fds that came with it: tag, payload, fds.
pub type FdMessage = (u8, Vec<u8>, Vec<OwnedFd>);

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
        self.send_with_fds(tag, payload, &[])
    }

    /// Receive one message. `None` when the other side closed the channel.
    ///
    /// A peer that closed with messages of ours still unread (an init that
    /// failed before reading CGROUP) makes the next receive fail once with
    /// ECONNRESET, ahead of the messages it sent before: that error is
    /// skipped, so they still arrive, then EOF. Fds sent along are closed.
    pub fn recv(&self) -> nix::Result<Option<(u8, Vec<u8>)>> {
        Ok(self
            .recv_with_fds()?
            .map(|(tag, payload, _)| (tag, payload)))
    }

    /// Send one message with `fds` attached (SCM_RIGHTS, at most
    /// [`MAX_FDS`]); the receiver must use [`Channel::recv_with_fds`] to keep
    /// them.
    pub fn send_with_fds(&self, tag: u8, payload: &[u8], fds: &[RawFd]) -> nix::Result<()> {
        if fds.len() > MAX_FDS {
            return Err(nix::errno::Errno::E2BIG);
        }
        let mut buf = Vec::with_capacity(1 + payload.len());
        buf.push(tag);
        buf.extend_from_slice(payload);
        let iov = [std::io::IoSlice::new(&buf)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        loop {
            match socket::sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => return r.map(|_| ()),
            }
        }
    }

    /// Receive one message and the fds attached to it (close-on-exec).
    /// `None` when the other side closed the channel (ECONNRESET is
    /// skipped, as in [`Channel::recv`]).
    pub fn recv_with_fds(&self) -> nix::Result<Option<FdMessage>> {
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        loop {
            // A buffer of the message's own size: a fixed 64 KiB one cost
            // 16 page faults and its zeroing on every message.
            let mut buf = vec![0u8; self.next_len()?.max(1)];
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let msg = match socket::recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::ECONNRESET) => continue,
                Err(e) => return Err(e),
                Ok(m) => m,
            };
            let mut fds = Vec::new();
            for c in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(got) = c {
                    // SAFETY: the kernel installed these fds for us.
                    fds.extend(got.iter().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) }));
                }
            }
            if msg
                .flags
                .intersects(MsgFlags::MSG_CTRUNC | MsgFlags::MSG_TRUNC)
            {
                return Err(nix::errno::Errno::EMSGSIZE);
            }
            let n = msg.bytes;
            if n == 0 {
                return Ok(None);
            }
            return Ok(Some((buf[0], buf[1..n].to_vec(), fds)));
        }
    }

    /// The length of the next message, without taking it: for a
    /// SOCK_SEQPACKET socket, MSG_PEEK|MSG_TRUNC reports a message's full
    /// length. 0 when the other side closed the channel.
    fn next_len(&self) -> nix::Result<usize> {
        loop {
            // SAFETY: a zero-length receive; the kernel writes nothing.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_PEEK | libc::MSG_TRUNC,
                )
            };
            if let Ok(n) = usize::try_from(n) {
                return Ok(n);
            }
            match nix::errno::Errno::last() {
                nix::errno::Errno::EINTR | nix::errno::Errno::ECONNRESET => continue,
                e => return Err(e),
            }
        }
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The most fds one message carries (a v1 host has about a dozen
/// hierarchies).
pub const MAX_FDS: usize = 64;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fds_travel_with_their_message() {
        let (a, b) = pair().unwrap();
        let f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut &f, b"x").unwrap();
        a.send_with_fds(CGROUP, b"pids\nmemory", &[f.as_raw_fd(), f.as_raw_fd()])
            .unwrap();
        a.send_with_fds(CGROUP, b"", &[]).unwrap();
        a.send(MAPPED, b"").unwrap();
        let (tag, payload, fds) = b.recv_with_fds().unwrap().unwrap();
        assert_eq!(
            (tag, &payload[..], fds.len()),
            (CGROUP, &b"pids\nmemory"[..], 2)
        );
        let st = nix::sys::stat::fstat(fds[1].as_fd()).unwrap();
        assert_eq!(st.st_size, 1);
        let (tag, payload, fds) = b.recv_with_fds().unwrap().unwrap();
        assert_eq!((tag, payload.len(), fds.len()), (CGROUP, 0, 0));
        assert_eq!(b.recv().unwrap(), Some((MAPPED, Vec::new())));
        drop(a);
        assert!(b.recv_with_fds().unwrap().is_none());
    }

    #[test]
    fn messages_of_any_size_arrive_whole() {
        let (a, b) = pair().unwrap();
        let big: Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
        a.send(HOOKS_DONE, &big).unwrap();
        a.send(MAPPED, b"x").unwrap();
        assert_eq!(b.recv().unwrap(), Some((HOOKS_DONE, big)));
        assert_eq!(b.recv().unwrap(), Some((MAPPED, b"x".to_vec())));
    }

    #[test]
    fn a_peer_gone_with_unread_messages_still_delivers_its_own() {
        // The init sends ERROR and exits while our CGROUP is unread in its
        // queue: the kernel reports ECONNRESET first, then the queue.
        let (parent, init) = pair().unwrap();
        parent.send(CGROUP, b"").unwrap();
        init.send(ERROR, b"it failed").unwrap();
        drop(init);
        assert_eq!(parent.recv().unwrap(), Some((ERROR, b"it failed".to_vec())));
        assert_eq!(parent.recv().unwrap(), None);
        let (parent, init) = pair().unwrap();
        parent.send(CGROUP, b"").unwrap();
        init.send(ERROR, b"again").unwrap();
        drop(init);
        let (tag, payload, _) = parent.recv_with_fds().unwrap().unwrap();
        assert_eq!((tag, &payload[..]), (ERROR, &b"again"[..]));
        assert!(parent.recv_with_fds().unwrap().is_none());
    }
}
