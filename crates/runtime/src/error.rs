//! The runtime's error type. Every variant names the container, file or
//! object involved, because a container manager shows our message verbatim.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },

    #[error("{context}: {errno}")]
    Sys {
        context: String,
        errno: nix::errno::Errno,
    },

    #[error("config {}: {msg}", path.display())]
    Config { path: PathBuf, msg: String },

    #[error("invalid container id {id:?}: {why}")]
    InvalidId { id: String, why: &'static str },

    #[error("container {0:?} does not exist")]
    NotFound(String),

    #[error("container {0:?} already exists")]
    AlreadyExists(String),

    #[error("container {id:?} is {status}: {what}")]
    WrongState {
        id: String,
        status: String,
        what: &'static str,
    },

    #[error("invalid signal {0:?}")]
    InvalidSignal(String),

    #[error("{hook} hook {}: {msg}", path.display())]
    Hook {
        hook: &'static str,
        path: PathBuf,
        msg: String,
    },

    /// An error the container's init process reported over the sync socket.
    #[error("container {id:?}: {msg}")]
    Init { id: String, msg: String },

    #[error("{0}")]
    Unsupported(String),

    #[error(transparent)]
    Cgroup(#[from] onggi_cgroups::Error),

    #[error("state of container {id:?} in {}: {msg}", path.display())]
    State {
        id: String,
        path: PathBuf,
        msg: String,
    },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }

    pub fn sys(context: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Error::Sys {
            context: context.into(),
            errno,
        }
    }

    pub fn config(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Config {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Attach a path to an `std::io::Result`.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

/// Attach a description to a `nix` result.
pub trait SysContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(context(), e))
    }
}
