//! The crate's error type. Every variant names the file or directory involved so
//! that a failing `onggi-runtime` command tells the user what to look at.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },

    #[error("opening {path}: {source}")]
    Open { path: PathBuf, source: io::Error },

    #[error("creating cgroup directory {path}: {source}")]
    Mkdir { path: PathBuf, source: io::Error },

    #[error("removing cgroup directory {path}: {source}")]
    Rmdir { path: PathBuf, source: io::Error },

    #[error("parsing {path}: {msg}")]
    Parse { path: PathBuf, msg: String },

    /// The host's kernel (or its configuration) lacks the file a resource needs.
    #[error("{path} does not exist: this host cannot apply {what}")]
    NotSupported { path: PathBuf, what: String },

    /// The controller a resource needs is not mounted (v1) or not available (v2).
    #[error("cgroup controller {controller} is not available on this host (needed for {file})")]
    ControllerMissing { controller: String, file: String },

    /// The resource has no equivalent in this cgroup version.
    #[error("{what} cannot be applied on cgroup {version} (no {file} equivalent)")]
    Unsupported {
        what: String,
        file: String,
        version: &'static str,
    },

    #[error("invalid value for {file}: {msg}")]
    InvalidValue { file: String, msg: String },

    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },

    #[error("cgroupsPath {0:?} uses the systemd \"slice:prefix:name\" form, which onggi does not support yet")]
    SystemdUnsupported(String),

    #[error("no cgroup filesystem is mounted (looked in {path})")]
    NoCgroupMount { path: PathBuf },

    #[error("{path}: the process is not below the mounted root {root} of this hierarchy")]
    OutsideMount { path: PathBuf, root: String },

    #[error("{path}: timed out after {millis} ms waiting for {what}")]
    Timeout {
        path: PathBuf,
        what: String,
        millis: u64,
    },

    #[error("memory usage {usage} in {path} is above the new limit {limit} (checkBeforeUpdate)")]
    UsageAboveLimit {
        path: PathBuf,
        usage: u64,
        limit: i64,
    },

    #[error("{op} for the device program of {path}: {source}")]
    Bpf {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
