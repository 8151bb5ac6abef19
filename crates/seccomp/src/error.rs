//! The one error type of this crate. Every message names the field, syscall or path involved.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp: unknown action {name:?} in {field}")]
    UnknownAction { name: String, field: String },

    #[error("seccomp: unknown operator {name:?} in {field}")]
    UnknownOperator { name: String, field: String },

    #[error("seccomp: unknown architecture {name:?} in linux.seccomp.architectures")]
    UnknownArch { name: String },

    #[error("seccomp: unknown flag {name:?} in linux.seccomp.flags")]
    UnknownFlag { name: String },

    #[error("seccomp: invalid seccomp JSON: {0}")]
    Json(#[from] serde_json::Error),

    #[error("seccomp: {field}: action {action} takes no errno (errnoRet is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE)")]
    ErrnoNotAllowed { field: String, action: &'static str },

    #[error("seccomp: {field}: errnoRet {value} does not fit the 16-bit seccomp return data")]
    ErrnoOutOfRange { field: String, value: u32 },

    #[error("seccomp: linux.seccomp.syscalls[{rule}].args[{arg}]: argument index {index} is out of range (0..=5)")]
    ArgIndex {
        rule: usize,
        arg: usize,
        index: usize,
    },

    #[error("seccomp: linux.seccomp.syscalls[{rule}].names is empty")]
    NoNames { rule: usize },

    #[error(
        "seccomp: SCMP_ACT_NOTIFY is used by {what} but linux.seccomp.listenerPath is not set"
    )]
    NotifyWithoutListener { what: String },

    #[error("seccomp: SCMP_ACT_NOTIFY cannot be linux.seccomp.defaultAction: the runtime could not hand the listener fd over")]
    NotifyAsDefault,

    #[error("seccomp: this build has no syscall table for its host architecture")]
    UnsupportedHost,

    #[error(
        "seccomp: the compiled filter has {len} BPF instructions; the kernel accepts at most {max}"
    )]
    TooLong { len: usize, max: usize },

    #[error("seccomp: listener {path}: {source}")]
    Listener {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("seccomp: container state JSON for the listener: {0}")]
    State(String),
}
