//! The content-addressed store under a root directory:
//!
//! ```text
//! ROOT/blobs/sha256/HEX      manifests, configs and layer blobs, as fetched
//! ROOT/snapshots/HEX/        one extracted layer per diff ID (overlay lower dir)
//! ROOT/images.json           image records: names, manifest, config, layers
//! ROOT/bundles/HEX.json      bundles that mount an image's snapshots
//! ROOT/tmp/                  downloads and extractions in progress
//! ```
//!
//! Everything enters through a temporary file or directory in `tmp/` and is
//! renamed into place once verified, so a crash or error never leaves a
//! partial blob or snapshot under its final name.

mod blobs;
mod gc;
mod images;
mod lock;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub use gc::GcReport;
pub use images::{ImageRecord, LayerRecord};
pub use lock::Lock;

use crate::digest::Digest;
use crate::error::{IoContext, Result};

/// A store rooted at a directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

pub const DEFAULT_ROOT: &str = "/var/lib/onggi";

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root: PathBuf = root.into();
        for sub in ["blobs/sha256", "snapshots", "tmp", "bundles"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).ctx_path("creating store directory", &dir)?;
        }
        let root = std::fs::canonicalize(&root).ctx_path("resolving store root", &root)?;
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn snapshot_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("snapshots").join(diff_id.hex())
    }

    pub fn has_snapshot(&self, diff_id: &Digest) -> bool {
        self.snapshot_path(diff_id).is_dir()
    }

    pub fn bundles_dir(&self) -> PathBuf {
        self.root.join("bundles")
    }

    /// A fresh, unused path in `tmp/` (same filesystem, so rename works).
    pub fn temp_path(&self, prefix: &str) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.root
            .join("tmp")
            .join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()))
    }

    /// Held by anything that adds content, for its whole run (see [`lock`]).
    pub fn content_lock(&self) -> Result<Lock> {
        Lock::shared(&self.root.join("gc.lock"))
    }
}

/// Removes a file or directory tree when dropped, unless disarmed: the
/// clean-up for anything left half-written by an error.
pub struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    pub fn new(path: PathBuf) -> Self {
        TempGuard { path: Some(path) }
    }
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }
    pub fn disarm(mut self) {
        self.path = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            if p.is_dir() && !p.is_symlink() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}
