//! onggi's image layer: references, a registry client, a content-addressed
//! store with snapshots, layer extraction, archives (OCI layout, docker
//! save) and minimal images built from host binaries.

pub mod archive;
pub mod build;
mod commit;
pub mod digest;
pub mod error;
pub mod layer;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod spec;
pub mod store;

pub use commit::commit_image;
pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub use spec::Platform;
pub use store::{ImageRecord, LayerRecord, Store};

/// Progress of blob transfers, so the engine can draw bars and the library
/// stays free of terminal code.
pub trait Progress: Sync {
    /// A blob transfer of `size` bytes starts.
    fn start(&self, what: &str, digest: &Digest, size: u64) -> Box<dyn BlobProgress>;
    /// A one-line status message.
    fn message(&self, msg: &str);
}

/// One blob's transfer.
pub trait BlobProgress: Send {
    fn advance(&mut self, bytes: u64);
    fn finish(&mut self, msg: &str);
}

/// Progress that shows nothing.
pub struct NoProgress;

struct NoBlob;

impl BlobProgress for NoBlob {
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self, _: &str) {}
}

impl Progress for NoProgress {
    fn start(&self, _: &str, _: &Digest, _: u64) -> Box<dyn BlobProgress> {
        Box::new(NoBlob)
    }
    fn message(&self, _: &str) {}
}
