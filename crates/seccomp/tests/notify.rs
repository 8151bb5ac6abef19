//! SCMP_ACT_NOTIFY end to end: the child loads the filter and hands the listener fd to the
//! parent (as the container process does to the runtime), the parent sends it to an agent
//! with send_to_listener, and the agent answers the child's notified syscall.

mod common;

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use common::*;
use nix::sys::wait::WaitStatus;
use onggi_seccomp::{
    recv_fd, send_fd, send_process_state, send_to_listener, ContainerProcessState,
};

/// What the agent does with the one notification it gets.
#[derive(Clone, Copy)]
enum Answer {
    Errno(i32),
    /// Fake success: the syscall returns `val` without running.
    Return(i64),
    /// Let the kernel run the syscall (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    Continue,
}

struct Agent {
    doc: serde_json::Value,
    notified_pid: u32,
    notified_nr: i32,
}

/// Accepts the runtime's connection, reads the message and the fd, answers one notification.
fn agent(listener: &UnixListener, answer: Answer) -> Agent {
    let (conn, _) = listener.accept().expect("accept");
    let (notify_fd, first) =
        recv_fd(conn.as_fd()).expect("the listener fd arrives with the message");
    let mut rest = Vec::new();
    (&conn).read_to_end(&mut rest).expect("read message");
    let mut bytes = vec![first];
    bytes.extend(rest);
    let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("message is JSON");

    // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed before RECV.
    let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: RECV writes one seccomp_notif into `req`, which is large enough.
    let r = unsafe {
        libc::ioctl(
            notify_fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut req,
        )
    };
    assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    // SAFETY: seccomp_notif_resp is plain data; zero is a neutral answer.
    let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
    resp.id = req.id;
    match answer {
        Answer::Errno(e) => resp.error = -e,
        Answer::Return(v) => resp.val = v,
        Answer::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
    }
    // SAFETY: SEND reads one seccomp_notif_resp from `resp`.
    let r = unsafe { libc::ioctl(notify_fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
    Agent {
        doc,
        notified_pid: req.pid,
        notified_nr: req.data.nr,
    }
}

fn run(answer: Answer, with_metadata: bool) -> (i32, Agent, i32, bool) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sock_path = tmp.path().join("agent.sock");
    let listener = UnixListener::bind(&sock_path).expect("bind agent socket");
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":{},"listenerMetadata":"MKNOD=/dev/null",
            "syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}}]}}"#,
        serde_json::to_string(&sock_path).expect("path as JSON")
    );
    let f = filter(&json);
    assert!(f.has_notify());
    let dir = tmp.path().join("d");
    let dir_c =
        std::ffi::CString::new(dir.clone().into_os_string().into_encoded_bytes()).expect("path");
    let (parent_sock, child_sock) = UnixStream::pair().expect("socketpair");

    // SAFETY: the child only makes system calls (load, send_fd and mkdir do not allocate) and
    // leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = match load(&f) {
            Ok(Some(fd)) => match send_fd(child_sock.as_fd(), fd.as_fd(), b'{') {
                Ok(()) => {
                    drop(fd);
                    match sys(libc::SYS_mkdir, [dir_c.as_ptr() as u64, 0o755, 0]) {
                        Ok(v) => 100 + v as i32,
                        Err(e) => e,
                    }
                }
                Err(_) => 251,
            },
            Ok(None) => 252,
            Err(code) => code,
        };
        // SAFETY: ends the child without the parent's destructors.
        unsafe { libc::_exit(code) }
    }
    drop(child_sock);

    // The runtime parent: receive the fd, pass it on to the agent, close its copy.
    let (notify_fd, tag): (OwnedFd, u8) = recv_fd(parent_sock.as_fd()).expect("fd from the child");
    assert_eq!(tag, b'{');
    let state = serde_json::json!({
        "ociVersion": "1.3.0", "id": "c1", "status": "creating", "pid": pid, "bundle": "/b"
    });
    let state_json = serde_json::to_vec(&state).expect("state");
    if with_metadata {
        let process = ContainerProcessState {
            oci_version: "1.3.0",
            pid,
            metadata: f.listener_metadata(),
            state_json: &state_json,
        };
        send_process_state(&sock_path, notify_fd.as_fd(), &process).expect("send to agent");
    } else {
        send_to_listener(&sock_path, notify_fd.as_fd(), &state_json).expect("send to agent");
    }
    drop(notify_fd);

    let agent = agent(&listener, answer);
    assert_eq!(agent.doc["state"], state);
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).expect("wait");
    let code = match status {
        WaitStatus::Exited(_, c) => c,
        other => panic!("child: {other:?}"),
    };
    (code, agent, pid, dir.exists())
}

#[test]
fn agent_answers_with_an_errno() {
    let (code, agent, pid, created) = run(Answer::Errno(libc::ENOSPC), false);
    assert_eq!(code, libc::ENOSPC);
    assert!(!created);
    assert_eq!(agent.notified_nr as libc::c_long, libc::SYS_mkdir);
    assert_eq!(agent.notified_pid, pid as u32);
    assert_eq!(agent.doc["ociVersion"], "1.3.0");
    assert_eq!(agent.doc["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(agent.doc["pid"], pid);
    assert!(agent.doc.get("metadata").is_none());
}

#[test]
fn agent_fakes_success() {
    let (code, agent, _, created) = run(Answer::Return(7), true);
    assert_eq!(code, 107, "mkdir returned the agent's value");
    assert!(!created, "the syscall did not run");
    assert_eq!(agent.doc["metadata"], "MKNOD=/dev/null");
}

#[test]
fn agent_lets_the_syscall_run() {
    let (code, _, _, created) = run(Answer::Continue, false);
    assert_eq!(code, 100);
    assert!(created);
}
