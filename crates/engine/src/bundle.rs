//! `onggi bundle IMAGE DIR`: an OCI bundle whose rootfs is an overlay mount
//! of the image's snapshots with a private upper directory, and whose
//! config.json comes from the image config.
//!
//! ```text
//! DIR/config.json
//! DIR/rootfs/          overlay: snapshots (lower) + DIR/.onggi/upper
//! DIR/.onggi/{upper,work}
//! ```
//!
//! The bundle is recorded in the store so that `rmi` will not collect
//! snapshots it mounts; `onggi unbundle DIR` unmounts and removes it.

use std::path::{Path, PathBuf};

use onggi_image::digest::Digest;
use onggi_image::layer::safe::Root;
use onggi_image::snapshot::unmount;
use onggi_image::spec::ImageConfig;
use onggi_image::Store;

use crate::error::{EngineError, Result};
use crate::spec::{process_args, runtime_spec};
use crate::user::resolve_user;

/// What `bundle` made.
#[derive(Debug, Clone)]
pub struct BundleInfo {
    pub dir: PathBuf,
    pub image: Digest,
    pub args: Vec<String>,
}

fn record_path(store: &Store, dir: &Path) -> PathBuf {
    let key = Digest::of_bytes(dir.as_os_str().as_encoded_bytes());
    store.bundles_dir().join(format!("{}.json", key.hex()))
}

fn bundle_err(dir: &Path, reason: impl Into<String>) -> EngineError {
    EngineError::Bundle {
        dir: dir.display().to_string(),
        reason: reason.into(),
    }
}

/// Creates the bundle. `command` replaces the image's Cmd when not empty.
pub fn create_bundle(
    store: &Store,
    image_name: &str,
    dir: &Path,
    command: &[String],
) -> Result<BundleInfo> {
    let image = store.find_image(image_name)?;
    for layer in &image.layers {
        store.ensure_snapshot(layer)?;
    }
    let config: ImageConfig = serde_json::from_slice(&store.read_blob(&image.config.digest)?)
        .map_err(|e| {
            onggi_image::Error::malformed(
                format!("image config {}", image.config.digest),
                e.to_string(),
            )
        })?;
    let args = process_args(&config, command, image_name)?;
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(bundle_err(dir, "directory exists and is not empty"));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
        }
        Err(e) => return Err(EngineError::io(format!("reading {}", dir.display()), e)),
    }
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| EngineError::io(format!("resolving {}", dir.display()), e))?;
    let result = populate(store, &image, &config, &dir, args);
    if result.is_err() {
        let _ = remove_bundle(store, &dir);
    }
    result
}

fn populate(
    store: &Store,
    image: &onggi_image::ImageRecord,
    config: &ImageConfig,
    dir: &Path,
    args: Vec<String>,
) -> Result<BundleInfo> {
    let rootfs = dir.join("rootfs");
    let upper = dir.join(".onggi/upper");
    let work = dir.join(".onggi/work");
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d)
            .map_err(|e| EngineError::io(format!("creating {}", d.display()), e))?;
    }
    let record =
        serde_json::json!({ "dir": dir.display().to_string(), "image": image.id.to_string() });
    let record_file = record_path(store, dir);
    std::fs::write(&record_file, record.to_string())
        .map_err(|e| EngineError::io(format!("writing {}", record_file.display()), e))?;
    store.mount_image(image, &rootfs, &upper, &work)?;
    let root = Root::open(&rootfs)?;
    let name = image
        .names
        .first()
        .cloned()
        .unwrap_or_else(|| image.id.to_string());
    let user = resolve_user(
        &root,
        config.config.as_ref().and_then(|c| c.user.as_deref()),
        &name,
    )?;
    let hostname: String = dir
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(63)
                .collect()
        })
        .filter(|s: &String| !s.is_empty())
        .unwrap_or_else(|| "onggi".to_string());
    let spec = runtime_spec(config, args.clone(), &user, &hostname)?;
    let config_path = dir.join("config.json");
    let json = serde_json::to_vec_pretty(&spec).map_err(EngineError::spec)?;
    std::fs::write(&config_path, json)
        .map_err(|e| EngineError::io(format!("writing {}", config_path.display()), e))?;
    Ok(BundleInfo {
        dir: dir.to_path_buf(),
        image: image.id.clone(),
        args,
    })
}

/// Unmounts and deletes a bundle made by [`create_bundle`].
pub fn remove_bundle(store: &Store, dir: &Path) -> Result<()> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| EngineError::io(format!("resolving {}", dir.display()), e))?;
    let record = record_path(store, &dir);
    if !record.exists() && !dir.join(".onggi").exists() {
        return Err(bundle_err(&dir, "not a bundle made by onggi bundle"));
    }
    let rootfs = dir.join("rootfs");
    // Not mounted (EINVAL) is fine: the bundle may be half made.
    let _ = unmount(&rootfs);
    std::fs::remove_dir_all(&dir)
        .map_err(|e| EngineError::io(format!("removing {}", dir.display()), e))?;
    let _ = std::fs::remove_file(record);
    Ok(())
}
