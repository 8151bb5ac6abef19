//! Removing images and collecting what no image references any more.

use std::collections::HashSet;

use super::{Lock, Store};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::store::images::find_in;

/// What a garbage collection removed.
#[derive(Debug, Default, Clone)]
pub struct GcReport {
    pub blobs: Vec<Digest>,
    pub snapshots: Vec<Digest>,
    pub bytes: u64,
}

impl Store {
    /// Removes a name from an image, or the whole image when given by ID or
    /// when its last name goes (`docker rmi` semantics). Refuses an image
    /// that a bundle still uses, unless `force`. Returns the removed image
    /// IDs (empty if only a name went).
    pub fn remove_image(&self, name: &str, force: bool) -> Result<Vec<Digest>> {
        let in_use = self.bundle_users()?;
        self.update_images(|images| {
            let target = find_in(images, name)?.clone();
            let by_name = Reference::parse(name)
                .ok()
                .and_then(|r| r.tagged_name())
                .filter(|n| target.names.contains(n));
            let delete_whole = match &by_name {
                Some(n) => target.names.len() == 1 && target.names[0] == *n,
                None => true,
            };
            if !delete_whole {
                if let Some(n) = by_name {
                    if let Some(i) = images.iter_mut().find(|i| i.id == target.id) {
                        i.names.retain(|x| x != &n);
                    }
                }
                return Ok(Vec::new());
            }
            if let Some(dir) = in_use.iter().find(|(id, _)| id == &target.id).map(|(_, d)| d) {
                if !force {
                    return Err(Error::Conflict {
                        what: format!("image {name} ({})", target.id.short()),
                        reason: format!("in use by the bundle {dir}; remove it with `onggi unbundle {dir}` or use --force"),
                    });
                }
            }
            images.retain(|i| i.id != target.id);
            Ok(vec![target.id])
        })
    }

    /// The bundles recorded in `bundles/` and the image ID each uses.
    pub fn bundle_users(&self) -> Result<Vec<(Digest, String)>> {
        let dir = self.bundles_dir();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).ctx_path("listing", &dir)? {
            let path = entry.ctx_path("listing", &dir)?.path();
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) else {
                continue;
            };
            if let (Some(id), Some(d)) = (v["image"].as_str(), v["dir"].as_str()) {
                if let Ok(id) = Digest::parse(id) {
                    out.push((id, d.to_string()));
                }
            }
        }
        Ok(out)
    }

    /// Deletes blobs and snapshots that no image references, and stale
    /// temporary files. Waits for running pulls, loads and builds.
    pub fn gc(&self) -> Result<GcReport> {
        let _gc = Lock::exclusive(&self.root.join("gc.lock"))?;
        let images = self.list_images()?;
        let mut blobs = HashSet::new();
        let mut snapshots = HashSet::new();
        for i in &images {
            blobs.insert(i.manifest.digest.clone());
            blobs.insert(i.config.digest.clone());
            for l in &i.layers {
                blobs.insert(l.digest.clone());
                snapshots.insert(l.diff_id.clone());
            }
        }
        let mut report = GcReport::default();
        let blob_dir = self.root.join("blobs/sha256");
        for entry in std::fs::read_dir(&blob_dir).ctx_path("listing", &blob_dir)? {
            let entry = entry.ctx_path("listing", &blob_dir)?;
            let name = entry.file_name();
            let keep =
                Digest::from_hex(&name.to_string_lossy()).is_some_and(|d| blobs.contains(&d));
            if !keep {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(entry.path()).ctx_path("removing blob", &entry.path())?;
                report.bytes += size;
                if let Some(d) = Digest::from_hex(&name.to_string_lossy()) {
                    report.blobs.push(d);
                }
            }
        }
        let snap_dir = self.root.join("snapshots");
        for entry in std::fs::read_dir(&snap_dir).ctx_path("listing", &snap_dir)? {
            let entry = entry.ctx_path("listing", &snap_dir)?;
            let name = entry.file_name();
            let digest = Digest::from_hex(&name.to_string_lossy());
            if !digest.as_ref().is_some_and(|d| snapshots.contains(d)) {
                std::fs::remove_dir_all(entry.path())
                    .ctx_path("removing snapshot", &entry.path())?;
                report.snapshots.extend(digest);
            }
        }
        // Nothing else holds the content lock now, so all of tmp/ is stale.
        let tmp = self.root.join("tmp");
        for entry in std::fs::read_dir(&tmp).ctx_path("listing", &tmp)? {
            let path = entry.ctx_path("listing", &tmp)?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("images"))
            {
                continue;
            }
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
        Ok(report)
    }
}
