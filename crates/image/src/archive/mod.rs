//! Image archives: OCI image layouts (directories or tars) and Docker's
//! `docker save` tars, in and out.

mod docker_archive;
mod oci_layout;
mod sink;

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::layer::decompress;
use crate::layer::safe::clean_components;
use crate::store::{ImageRecord, Store, TempGuard};
use crate::Progress;

pub use sink::familiar_name;

/// The formats `save` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    OciDir,
    OciArchive,
    DockerArchive,
}

impl std::str::FromStr for ArchiveFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "oci-dir" | "oci" => Ok(ArchiveFormat::OciDir),
            "oci-archive" => Ok(ArchiveFormat::OciArchive),
            "docker-archive" | "docker" => Ok(ArchiveFormat::DockerArchive),
            other => Err(Error::malformed(
                format!("archive format {other:?}"),
                "expected oci-dir, oci-archive or docker-archive",
            )),
        }
    }
}

/// Loads every image in `src`: an OCI layout directory, or a tar (optionally
/// gzip- or zstd-compressed) holding an OCI layout or a `docker save` archive.
/// `name` names the image when the archive does not.
pub fn load(
    store: &Store,
    src: &Path,
    name: Option<&str>,
    progress: &dyn Progress,
) -> Result<Vec<ImageRecord>> {
    load_inner(store, src, name, progress)
        .map_err(|e| e.context(format!("loading {}", src.display())))
}

fn load_inner(
    store: &Store,
    src: &Path,
    name: Option<&str>,
    progress: &dyn Progress,
) -> Result<Vec<ImageRecord>> {
    let _content = store.content_lock()?;
    let meta = std::fs::metadata(src).ctx_path("opening", src)?;
    let unpacked;
    let dir: PathBuf = if meta.is_dir() {
        src.to_path_buf()
    } else {
        unpacked = TempGuard::new(store.temp_path("load"));
        unpack_tar(src, unpacked.path())?;
        unpacked.path().to_path_buf()
    };
    if dir.join("index.json").is_file() {
        oci_layout::load(store, &dir, name, progress)
    } else if dir.join("manifest.json").is_file() {
        docker_archive::load(store, &dir, name, progress)
    } else {
        Err(Error::malformed(
            src.display().to_string(),
            "neither an OCI layout (index.json) nor a docker archive (manifest.json)",
        ))
    }
}

/// Saves images to `dest` in `format`. `names` are the names to record
/// (one per image, as the user gave them).
pub fn save(
    store: &Store,
    images: &[(ImageRecord, Option<String>)],
    dest: &Path,
    format: ArchiveFormat,
) -> Result<()> {
    let result = match format {
        ArchiveFormat::OciDir => oci_layout::save(store, images, &mut sink::Sink::dir(dest)?),
        ArchiveFormat::OciArchive => {
            let mut s = sink::Sink::tar(dest)?;
            oci_layout::save(store, images, &mut s).and_then(|_| s.finish())
        }
        ArchiveFormat::DockerArchive => {
            let mut s = sink::Sink::tar(dest)?;
            docker_archive::save(store, images, &mut s).and_then(|_| s.finish())
        }
    };
    if result.is_err() && format != ArchiveFormat::OciDir {
        let _ = std::fs::remove_file(dest);
    }
    result.map_err(|e| e.context(format!("saving to {}", dest.display())))
}

/// Unpacks an archive's regular files and directories into `dest`.
/// Archives are input like layers: names are cleaned and links ignored, so
/// nothing can be written outside `dest`.
fn unpack_tar(src: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).ctx_path("creating", dest)?;
    let file = std::fs::File::open(src).ctx_path("opening", src)?;
    let reader = decompress(file, None).ctx_path("reading", src)?;
    let mut archive = tar::Archive::new(reader);
    let bad = |e: std::io::Error| Error::io(format!("reading archive {}", src.display()), e);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path_bytes().into_owned();
        let comps = clean_components(&raw).ok_or_else(|| Error::UnsafeEntry {
            layer: src.display().to_string(),
            entry: String::from_utf8_lossy(&raw).into_owned(),
            reason: "path escapes the archive with '..'".to_string(),
        })?;
        let mut path = dest.to_path_buf();
        for c in &comps {
            path.push(c);
        }
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&path).ctx_path("creating", &path)?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).ctx_path("creating", parent)?;
                }
                let mut out = std::fs::File::create(&path).ctx_path("creating", &path)?;
                std::io::copy(&mut entry, &mut out).ctx_path("writing", &path)?;
            }
            _ => {}
        }
    }
    Ok(())
}
