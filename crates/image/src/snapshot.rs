//! Snapshots: each layer extracted once, keyed by its diff ID, and
//! overlayfs mounts that stack them under a private upper directory.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, IoContext, Result};
use crate::layer::{apply_layer, decompress, ApplyOptions};
use crate::spec::layer_compression;
use crate::store::{ImageRecord, LayerRecord, Store, TempGuard};

impl Store {
    /// Extracts a stored layer blob into its snapshot unless that exists.
    /// Returns whether it extracted. The snapshot appears atomically (built
    /// in tmp/, then renamed), so a failed extraction leaves nothing.
    pub fn ensure_snapshot(&self, layer: &LayerRecord) -> Result<bool> {
        let dest = self.snapshot_path(&layer.diff_id);
        if dest.is_dir() {
            return Ok(false);
        }
        let what = format!("layer {}", layer.digest);
        let compression = match layer_compression(&layer.media_type, &what) {
            Ok(c) => Some(c),
            Err(e) => return Err(e),
        };
        let tmp = TempGuard::new(self.temp_path("snapshot"));
        std::fs::create_dir(tmp.path()).ctx_path("creating", tmp.path())?;
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .ctx_path("setting permissions on", tmp.path())?;
        let blob = self.open_blob(&layer.digest)?;
        let reader = decompress(blob, compression).ctx(|| format!("decompressing {what}"))?;
        apply_layer(
            reader,
            tmp.path(),
            &ApplyOptions {
                layer: &layer.digest.to_string(),
                diff_id: Some(&layer.diff_id),
            },
        )?;
        match std::fs::rename(tmp.path(), &dest) {
            Ok(()) => {
                tmp.disarm();
                Ok(true)
            }
            // Another process finished the same snapshot first; ours goes.
            Err(_) if dest.is_dir() => Ok(false),
            Err(e) => Err(Error::io_path("storing snapshot", &dest, e)),
        }
    }

    /// Mounts the image's layers at `target` with overlayfs: the snapshots
    /// are the shared read-only lower layers, `upper` and `work` (empty
    /// directories on one file system) take the container's changes.
    pub fn mount_image(
        &self,
        image: &ImageRecord,
        target: &Path,
        upper: &Path,
        work: &Path,
    ) -> Result<()> {
        let mut lowers = Vec::new();
        for layer in image.layers.iter().rev() {
            let p = self.snapshot_path(&layer.diff_id);
            if !p.is_dir() {
                return Err(Error::NotFound {
                    what: format!("snapshot of layer {} of image {}", layer.digest, image.id),
                    detail: Some(p.display().to_string()),
                });
            }
            lowers.push(p.display().to_string());
        }
        if lowers.is_empty() {
            // An image without layers: an empty lower directory stands in.
            let empty = self.root().join("snapshots-empty");
            std::fs::create_dir_all(&empty).ctx_path("creating", &empty)?;
            lowers.push(empty.display().to_string());
        }
        let paths = lowers
            .iter()
            .map(String::as_str)
            .chain([upper.to_str().unwrap_or(","), work.to_str().unwrap_or(",")]);
        for p in paths {
            if p.contains([',', ':']) {
                return Err(Error::Conflict {
                    what: format!("overlay path {p}"),
                    reason: "overlayfs paths cannot contain ',' or ':'".into(),
                });
            }
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            upper.display(),
            work.display()
        );
        if data.len() >= 4000 {
            return Err(Error::Conflict {
                what: format!("image {}", image.id),
                reason: format!(
                    "too many layers ({}) for one overlay mount",
                    image.layers.len()
                ),
            });
        }
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .ctx(|| {
            format!(
                "mounting overlay for image {} at {}",
                image.id.short(),
                target.display()
            )
        })
    }
}

/// Unmounts `target` (lazily, so a busy mount still goes away).
pub fn unmount(target: &Path) -> Result<()> {
    umount2(target, MntFlags::MNT_DETACH).ctx_path("unmounting", target)
}
