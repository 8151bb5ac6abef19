//! One error type for the image layer: every variant names the reference,
//! digest or file it is about, so a message on its own tells what failed.

use std::path::Path;

/// Errors from registries, the store, layers, archives and builds.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("registry {registry}: {message}")]
    Registry { registry: String, message: String },
    #[error("registry {registry}: authentication failed: {message}")]
    Auth { registry: String, message: String },
    #[error("{what}: not found{}", .detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NotFound {
        what: String,
        detail: Option<String>,
    },
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{what}: malformed: {reason}")]
    Malformed { what: String, reason: String },
    #[error("{what}: unsupported media type {media_type:?}")]
    UnsupportedMediaType { what: String, media_type: String },
    #[error("{what}: no manifest for platform {platform} (available: {available})")]
    NoMatchingPlatform {
        what: String,
        platform: String,
        available: String,
    },
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    UnsafeEntry {
        layer: String,
        entry: String,
        reason: String,
    },
    #[error("image {name}: not found in the store")]
    ImageNotFound { name: String },
    #[error("{what}: {reason}")]
    Conflict { what: String, reason: String },
    #[error("{path}: {reason}")]
    Elf { path: String, reason: String },
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps an I/O error about a path.
    pub fn io_path(action: &str, path: &Path, source: std::io::Error) -> Self {
        Error::io(format!("{action} {}", path.display()), source)
    }

    /// Prefixes the error with a context, such as the reference being pulled.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    pub fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Adds context to `std::io::Result`.
pub trait IoContext<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T>;
    fn ctx_path(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
    fn ctx_path(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io_path(action, path, e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx(self, f: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(f(), std::io::Error::from(e)))
    }
    fn ctx_path(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io_path(action, path, std::io::Error::from(e)))
    }
}
