//! Handing the SCMP_ACT_NOTIFY listener fd to the seccomp agent at linux.seccomp.listenerPath.
//!
//! runtime-spec: the runtime connects to the agent's unix stream socket and sends a
//! "container process state" JSON document, with the listener fd attached as SCM_RIGHTS; the
//! document's `fds` names that fd "seccompFd".

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::Error;

/// The runtime-spec version this crate implements, used when the state has none.
pub const OCI_VERSION: &str = "1.3.0";

/// The fields of the runtime-spec ContainerProcessState sent to the agent.
#[derive(Clone, Copy, Debug)]
pub struct ContainerProcessState<'a> {
    /// `ociVersion`.
    pub oci_version: &'a str,
    /// `pid`: the process that loaded the filter, as the runtime sees it (the container's init
    /// for `create`, the new process for `exec`).
    pub pid: i32,
    /// `metadata`: linux.seccomp.listenerMetadata, if any.
    pub metadata: Option<&'a str>,
    /// `state`: the container's state JSON (as `onggi-runtime state` prints it).
    pub state_json: &'a [u8],
}

/// Sends the container process state and `notify_fd` to the agent at `listener_path`.
///
/// `pid` and `ociVersion` are taken from `state_json`; no `metadata` is sent. Use
/// [`send_process_state`] to set them (exec'd processes, listenerMetadata).
pub fn send_to_listener(
    listener_path: &Path,
    notify_fd: BorrowedFd,
    state_json: &[u8],
) -> Result<(), Error> {
    let state: serde_json::Value = serde_json::from_slice(state_json)
        .map_err(|e| Error::State(format!("not valid JSON: {e}")))?;
    let pid = state
        .get("pid")
        .and_then(serde_json::Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| Error::State("no integer \"pid\" in the state".to_string()))?;
    let oci_version = state
        .get("ociVersion")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(OCI_VERSION)
        .to_string();
    let msg = message(&oci_version, pid, None, state);
    send(listener_path, notify_fd, &msg)
}

/// Sends `process` and `notify_fd` to the agent at `listener_path`.
pub fn send_process_state(
    listener_path: &Path,
    notify_fd: BorrowedFd,
    process: &ContainerProcessState,
) -> Result<(), Error> {
    let state: serde_json::Value = serde_json::from_slice(process.state_json)
        .map_err(|e| Error::State(format!("not valid JSON: {e}")))?;
    let msg = message(process.oci_version, process.pid, process.metadata, state);
    send(listener_path, notify_fd, &msg)
}

fn message(
    oci_version: &str,
    pid: i32,
    metadata: Option<&str>,
    state: serde_json::Value,
) -> Vec<u8> {
    let mut doc = serde_json::json!({
        "ociVersion": oci_version,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let (Some(m), Some(obj)) = (metadata, doc.as_object_mut()) {
        obj.insert("metadata".to_string(), serde_json::Value::from(m));
    }
    doc.to_string().into_bytes()
}

fn send(listener_path: &Path, notify_fd: BorrowedFd, msg: &[u8]) -> Result<(), Error> {
    let err = |source: std::io::Error| Error::Listener {
        path: listener_path.to_path_buf(),
        source,
    };
    let sock = UnixStream::connect(listener_path).map_err(err)?;
    let fds = [notify_fd.as_raw_fd()];
    let mut sent = 0;
    while sent < msg.len() {
        let iov = [IoSlice::new(&msg[sent..])];
        // The fd rides on the first chunk only; a stream socket may take the rest later.
        let rights = [ControlMessage::ScmRights(&fds)];
        let cmsgs: &[ControlMessage] = if sent == 0 { &rights } else { &[] };
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(err(e.into())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_the_spec_fields() {
        let state = serde_json::json!({"ociVersion": "1.3.0", "id": "c1", "pid": 42});
        let m = message("1.3.0", 42, Some("MKNOD=/dev/null"), state.clone());
        let v: serde_json::Value = serde_json::from_slice(&m).expect("valid JSON");
        assert_eq!(v["ociVersion"], "1.3.0");
        assert_eq!(v["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["metadata"], "MKNOD=/dev/null");
        assert_eq!(v["state"], state);
        let m = message("1.3.0", 42, None, state);
        let v: serde_json::Value = serde_json::from_slice(&m).expect("valid JSON");
        assert!(v.get("metadata").is_none());
    }

    #[test]
    fn bad_state_is_an_error_naming_it() {
        let (a, _b) = UnixStream::pair().expect("socketpair");
        let fd = std::os::fd::AsFd::as_fd(&a);
        let e = send_to_listener(Path::new("/nonexistent"), fd, b"{").unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        let e = send_to_listener(Path::new("/nonexistent"), fd, b"{}").unwrap_err();
        assert!(e.to_string().contains("pid"), "{e}");
        let e = send_to_listener(Path::new("/nonexistent/sock"), fd, b"{\"pid\":1}").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/sock"), "{e}");
    }
}
