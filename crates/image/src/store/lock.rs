//! Advisory file locks between onggi processes sharing one store root.
//!
//! Two locks: `gc.lock` is held shared by everything that adds content
//! (pull, load, build) for its whole run, and exclusively by garbage
//! collection, so GC never deletes a blob that a running pull has written
//! but not yet recorded. `images.lock` is held exclusively for each
//! read-modify-write of the image records.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, Result};

/// A held lock; released on drop.
pub struct Lock {
    _flock: Flock<File>,
}

impl Lock {
    pub fn shared(path: &Path) -> Result<Self> {
        Self::take(path, FlockArg::LockShared)
    }

    pub fn exclusive(path: &Path) -> Result<Self> {
        Self::take(path, FlockArg::LockExclusive)
    }

    fn take(path: &Path, arg: FlockArg) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io_path("opening lock file", path, e))?;
        let flock = Flock::lock(file, arg)
            .map_err(|(_, e)| Error::io_path("locking", path, std::io::Error::from(e)))?;
        Ok(Lock { _flock: flock })
    }
}
