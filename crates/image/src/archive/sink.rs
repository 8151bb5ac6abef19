//! Where `save` writes: a directory or a tar file, file by file.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

pub enum Sink {
    Dir(PathBuf),
    Tar(tar::Builder<BufWriter<File>>, PathBuf),
}

impl Sink {
    pub fn dir(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path.join("blobs/sha256")).ctx_path("creating", path)?;
        Ok(Sink::Dir(path.to_path_buf()))
    }

    pub fn tar(path: &Path) -> Result<Self> {
        let f = File::create(path).ctx_path("creating", path)?;
        let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, f));
        b.mode(tar::HeaderMode::Deterministic);
        Ok(Sink::Tar(b, path.to_path_buf()))
    }

    /// Adds a file of `size` bytes read from `data` at `name`.
    pub fn add(&mut self, name: &str, size: u64, data: &mut dyn Read) -> Result<()> {
        match self {
            Sink::Dir(root) => {
                let path = root.join(name);
                if let Some(p) = path.parent() {
                    std::fs::create_dir_all(p).ctx_path("creating", p)?;
                }
                let mut f = File::create(&path).ctx_path("creating", &path)?;
                std::io::copy(data, &mut f).ctx_path("writing", &path)?;
                Ok(())
            }
            Sink::Tar(b, path) => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(size);
                h.set_mtime(0);
                b.append_data(&mut h, name, data)
                    .map_err(|e| Error::io(format!("writing {name} to {}", path.display()), e))
            }
        }
    }

    pub fn add_bytes(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.add(name, data.len() as u64, &mut &data[..])
    }

    pub fn finish(&mut self) -> Result<()> {
        if let Sink::Tar(b, path) = self {
            b.finish().ctx_path("finishing", path)?;
            let inner = b.get_mut();
            std::io::Write::flush(inner).ctx_path("writing", path)?;
        }
        Ok(())
    }
}

/// A name as `docker save` writes it: `busybox:latest` for Docker Hub
/// official images, `user/app:tag` for other Hub images, in full otherwise.
pub fn familiar_name(full: &str) -> String {
    full.strip_prefix("docker.io/library/")
        .or_else(|| full.strip_prefix("docker.io/"))
        .unwrap_or(full)
        .to_string()
}
