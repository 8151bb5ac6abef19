//! Blobs: verified on the way in, read by digest.

use std::fs::File;
use std::io::{Read, Write};

use super::{Store, TempGuard};
use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};

impl Store {
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                what: format!("blob {digest}"),
                detail: Some(format!("no {}", path.display())),
            },
            _ => Error::io_path("opening blob", &path, e),
        })
    }

    /// Reads a small blob (manifest or config) into memory.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .ctx(|| format!("reading blob {digest}"))?;
        Ok(data)
    }

    /// Copies `reader` into the store. With `expected`, the content must have
    /// that digest and size, else nothing is stored. `on_bytes` sees progress.
    /// Returns the digest and size of what was stored.
    pub fn ingest(
        &self,
        reader: &mut dyn Read,
        expected: Option<(&Digest, u64)>,
        what: &str,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<(Digest, u64)> {
        let tmp = TempGuard::new(self.temp_path("blob"));
        let file = File::create(tmp.path()).ctx_path("creating", tmp.path())?;
        let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let mut buf = vec![0u8; 256 << 10];
        let limit = expected.map(|(_, size)| size);
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(format!("reading {what}"), e)),
            };
            writer
                .write_all(&buf[..n])
                .ctx(|| format!("writing {what} to {}", tmp.path().display()))?;
            on_bytes(n as u64);
            // A server sending more than the descriptor says is wrong; stop early.
            if let Some(limit) = limit {
                let count = writer.count();
                if count > limit {
                    return Err(Error::SizeMismatch {
                        what: what.to_string(),
                        expected: limit,
                        actual: count,
                    });
                }
            }
        }
        let (bufw, digest, size) = writer.finish();
        let file = bufw.into_inner().map_err(|e| {
            Error::io(
                format!("writing {what} to {}", tmp.path().display()),
                e.into_error(),
            )
        })?;
        drop(file);
        if let Some((want, want_size)) = expected {
            if size != want_size {
                return Err(Error::SizeMismatch {
                    what: what.to_string(),
                    expected: want_size,
                    actual: size,
                });
            }
            if &digest != want {
                return Err(Error::DigestMismatch {
                    what: what.to_string(),
                    expected: want.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let dest = self.blob_path(&digest);
        std::fs::rename(tmp.path(), &dest)
            .ctx(|| format!("storing {what} as {}", dest.display()))?;
        tmp.disarm();
        Ok((digest, size))
    }

    /// Stores in-memory bytes (manifests, configs) and returns their digest.
    pub fn ingest_bytes(&self, data: &[u8], what: &str) -> Result<Digest> {
        let digest = Digest::of_bytes(data);
        if !self.has_blob(&digest) {
            self.ingest(
                &mut &data[..],
                Some((&digest, data.len() as u64)),
                what,
                &mut |_| {},
            )?;
        }
        Ok(digest)
    }
}
