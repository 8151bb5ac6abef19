//! Turning stored blobs into an image: check the manifest and config,
//! extract missing snapshots, and record the image. Shared by pull, load
//! and build, so every way in gives the same checks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::spec::Descriptor;
use crate::spec::{
    layer_compression, parse_manifest_doc, ImageConfig, ManifestDoc, DOCKER_CONFIG, OCI_CONFIG,
};
use crate::store::{ImageRecord, LayerRecord, Store};
use crate::Progress;

/// Records an image whose manifest is `manifest_bytes` and whose config and
/// layer blobs are already in the store. Extracts missing snapshots (in
/// parallel, `jobs` at a time); on error removes the snapshots it made.
pub fn commit_image(
    store: &Store,
    manifest_bytes: &[u8],
    manifest_media_type: &str,
    names: Vec<String>,
    repo_digests: Vec<String>,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<ImageRecord> {
    let manifest_digest = Digest::of_bytes(manifest_bytes);
    let what = format!("manifest {manifest_digest}");
    let (ManifestDoc::Manifest(manifest), _) =
        parse_manifest_doc(manifest_bytes, Some(manifest_media_type), &what)?
    else {
        return Err(Error::malformed(
            what,
            "expected an image manifest, found an index",
        ));
    };
    let config_media = manifest.config.media_type.as_str();
    if config_media != OCI_CONFIG && config_media != DOCKER_CONFIG {
        return Err(Error::UnsupportedMediaType {
            what: format!("config {}", manifest.config.digest),
            media_type: config_media.to_string(),
        });
    }
    let config_bytes = store.read_blob(&manifest.config.digest)?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
        Error::malformed(
            format!("image config {}", manifest.config.digest),
            e.to_string(),
        )
    })?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(Error::malformed(
            format!("image config {}", manifest.config.digest),
            format!(
                "{} diff IDs for {} layers in {what}",
                config.rootfs.diff_ids.len(),
                manifest.layers.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    for (d, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
        layer_compression(&d.media_type, &format!("layer {}", d.digest))?;
        layers.push(LayerRecord {
            digest: d.digest.clone(),
            size: d.size,
            media_type: d.media_type.clone(),
            diff_id: diff_id.clone(),
        });
    }
    extract_all(store, &layers, jobs, progress)?;
    let manifest_desc = Descriptor::new(
        manifest_media_type,
        store.ingest_bytes(manifest_bytes, &what)?,
        manifest_bytes.len() as u64,
    );
    let record = ImageRecord {
        id: manifest.config.digest.clone(),
        names,
        repo_digests,
        manifest: manifest_desc,
        config: manifest.config.clone(),
        layers,
        architecture: config.architecture.clone(),
        os: config.os.clone(),
        created: config.created.clone(),
        added: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    store.record_image(record)
}

fn extract_all(
    store: &Store,
    layers: &[LayerRecord],
    jobs: usize,
    progress: &dyn Progress,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let created = Mutex::new(Vec::new());
    let first_error = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, layers.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(layer) = layers.get(i) else { break };
                if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                    break;
                }
                match store.ensure_snapshot(layer) {
                    Ok(true) => {
                        progress.message(&format!("Extracted layer {}", layer.digest.short()));
                        if let Ok(mut c) = created.lock() {
                            c.push(layer.diff_id.clone());
                        }
                    }
                    Ok(false) => {}
                    Err(e) => {
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        for d in created.into_inner().unwrap_or_default() {
            let _ = std::fs::remove_dir_all(store.snapshot_path(&d));
        }
        return Err(e);
    }
    Ok(())
}
