//! Engine errors: the image layer's, plus what the engine itself checks.

/// Errors from engine commands.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Image(#[from] onggi_image::Error),
    #[error("image {image}: {reason}")]
    User { image: String, reason: String },
    #[error("bundle {dir}: {reason}")]
    Bundle { dir: String, reason: String },
    #[error("runtime spec: {0}")]
    Spec(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{command} exited with {status}")]
    Child { command: String, status: String },
}

impl EngineError {
    pub fn spec(e: impl std::fmt::Display) -> Self {
        EngineError::Spec(e.to_string())
    }
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EngineError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
