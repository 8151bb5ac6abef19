//! Image records and their names, kept in `images.json`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Lock, Store};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::spec::Descriptor;

/// One layer of an image: the blob as stored and its uncompressed diff ID
/// (which names its snapshot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub diff_id: Digest,
}

/// An image in the store. Its ID is its config digest, as Docker's is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: Digest,
    /// Full names with tags, `registry/repository:tag`.
    pub names: Vec<String>,
    /// `registry/repository@sha256:…` for each name it was pulled by.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<LayerRecord>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub created: Option<String>,
    /// Unix seconds when the record was written.
    pub added: u64,
}

impl ImageRecord {
    /// Bytes of the stored blobs of the image (layers, config, manifest).
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum::<u64>() + self.config.size + self.manifest.size
    }
}

#[derive(Default, Serialize, Deserialize)]
struct ImageIndex {
    images: Vec<ImageRecord>,
}

impl Store {
    fn images_file(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn read_index(&self) -> Result<ImageIndex> {
        let path = self.images_file();
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map_err(|e| Error::malformed(path.display().to_string(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImageIndex::default()),
            Err(e) => Err(Error::io_path("reading", &path, e)),
        }
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let path = self.images_file();
        let tmp = self.temp_path("images");
        let data = serde_json::to_vec_pretty(index)
            .map_err(|e| Error::malformed("image index", e.to_string()))?;
        std::fs::write(&tmp, data).ctx_path("writing", &tmp)?;
        std::fs::rename(&tmp, &path).ctx_path("replacing", &path)
    }

    /// Runs `f` on the image records under the index lock and saves the result.
    pub(crate) fn update_images<T>(
        &self,
        f: impl FnOnce(&mut Vec<ImageRecord>) -> Result<T>,
    ) -> Result<T> {
        let _lock = Lock::exclusive(&self.root.join("images.lock"))?;
        let mut index = self.read_index()?;
        let out = f(&mut index.images)?;
        self.write_index(&index)?;
        Ok(out)
    }

    pub fn list_images(&self) -> Result<Vec<ImageRecord>> {
        let _lock = Lock::shared(&self.root.join("images.lock"))?;
        Ok(self.read_index()?.images)
    }

    /// Records an image. Its names move to it from any image holding them
    /// (as `docker pull` re-points a tag); an existing record with the same ID
    /// gains the names.
    pub fn record_image(&self, mut record: ImageRecord) -> Result<ImageRecord> {
        self.update_images(|images| {
            for other in images.iter_mut() {
                other.names.retain(|n| !record.names.contains(n));
            }
            if let Some(existing) = images.iter_mut().find(|i| i.id == record.id) {
                for n in record.names.drain(..) {
                    if !existing.names.contains(&n) {
                        existing.names.push(n);
                    }
                }
                for d in record.repo_digests.drain(..) {
                    if !existing.repo_digests.contains(&d) {
                        existing.repo_digests.push(d);
                    }
                }
                existing.manifest = record.manifest.clone();
                existing.added = record.added;
                Ok(existing.clone())
            } else {
                images.push(record.clone());
                Ok(record)
            }
        })
    }

    /// Finds an image by name (normalised as a reference), full ID, or an
    /// unambiguous ID prefix of at least 4 hex digits.
    pub fn find_image(&self, name: &str) -> Result<ImageRecord> {
        find_in(&self.list_images()?, name).cloned()
    }

    /// Adds a name to an image.
    pub fn tag_image(&self, image: &str, new_name: &str) -> Result<()> {
        let new = Reference::parse(new_name)?;
        let tagged = new.tagged_name().ok_or_else(|| Error::InvalidReference {
            reference: new_name.to_string(),
            reason: "a tag name cannot carry a digest only".to_string(),
        })?;
        self.update_images(|images| {
            let id = find_in(images, image)?.id.clone();
            for i in images.iter_mut() {
                i.names.retain(|n| n != &tagged);
                if i.id == id {
                    i.names.push(tagged.clone());
                }
            }
            Ok(())
        })
    }
}

pub(crate) fn find_in<'a>(images: &'a [ImageRecord], name: &str) -> Result<&'a ImageRecord> {
    let not_found = || Error::ImageNotFound {
        name: name.to_string(),
    };
    let id_like = name.strip_prefix("sha256:").unwrap_or(name);
    if id_like.len() >= 4
        && id_like
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        let matches: Vec<_> = images
            .iter()
            .filter(|i| i.id.hex().starts_with(id_like))
            .collect();
        match matches.len() {
            1 => return Ok(matches[0]),
            n if n > 1 => {
                return Err(Error::Conflict {
                    what: format!("image ID prefix {name}"),
                    reason: format!("matches {n} images"),
                })
            }
            _ => {}
        }
    }
    let reference = Reference::parse(name).map_err(|_| not_found())?;
    if let Some(d) = &reference.digest {
        let wanted = format!("{}@{d}", reference.name());
        return images
            .iter()
            .find(|i| i.repo_digests.contains(&wanted) || &i.manifest.digest == d)
            .ok_or_else(not_found);
    }
    let full = reference.tagged_name().ok_or_else(not_found)?;
    images
        .iter()
        .find(|i| i.names.contains(&full))
        .ok_or_else(not_found)
}
