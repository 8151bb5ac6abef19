//! `onggi pull`: manifest (through an index if need be), config and layers
//! from a registry into the store, each blob verified, then snapshots.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::commit::commit_image;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::registry::{Client, RegistryConfig};
use crate::spec::{
    layer_compression, parse_manifest_doc, select_platform, Descriptor, ManifestDoc, Platform,
};
use crate::store::{ImageRecord, Store};
use crate::Progress;

/// How to pull.
#[derive(Clone, Debug)]
pub struct PullOptions {
    pub platform: Platform,
    pub registry: RegistryConfig,
    /// Layers downloaded (and extracted) at once.
    pub jobs: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: Platform::host(),
            registry: RegistryConfig::default(),
            jobs: 4,
        }
    }
}

/// Pulls `reference` into the store. On error nothing is recorded and the
/// blobs this pull added are removed again.
pub fn pull(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<ImageRecord> {
    let mut created = Vec::new();
    let result = pull_inner(store, reference, opts, progress, &mut created);
    if result.is_err() {
        for d in &created {
            let _ = std::fs::remove_file(store.blob_path(d));
        }
    }
    result.map_err(|e| e.context(format!("pulling {reference}")))
}

fn pull_inner(
    store: &Store,
    reference: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
    created: &mut Vec<Digest>,
) -> Result<ImageRecord> {
    let client = Client::new(reference, &opts.registry);
    let what = format!("manifest {}", reference.manifest_ref());
    let (top_bytes, content_type) =
        client.get_manifest(&reference.manifest_ref(), &format!("image {reference}"))?;
    let top_digest = Digest::of_bytes(&top_bytes);
    if let Some(want) = &reference.digest {
        if &top_digest != want {
            return Err(Error::DigestMismatch {
                what,
                expected: want.to_string(),
                actual: top_digest.to_string(),
            });
        }
    }
    let (doc, media_type) = parse_manifest_doc(&top_bytes, content_type.as_deref(), &what)?;
    let (manifest, manifest_bytes, media_type) = match doc {
        ManifestDoc::Manifest(m) => (m, top_bytes, media_type),
        ManifestDoc::Index(index) => {
            let desc = select_platform(&index, &opts.platform, &what)?;
            progress.message(&format!(
                "Selected {} manifest {}",
                opts.platform, desc.digest
            ));
            let what = format!("manifest {}", desc.digest);
            let (bytes, ct) = client.get_manifest(&desc.digest.to_string(), &what)?;
            verify(&bytes, desc, &what)?;
            match parse_manifest_doc(&bytes, ct.as_deref().or(Some(&desc.media_type)), &what)? {
                (ManifestDoc::Manifest(m), mt) => (m, bytes, mt),
                (ManifestDoc::Index(_), _) => {
                    return Err(Error::malformed(what, "an index inside an index"))
                }
            }
        }
    };
    // Refuse unsupported layers before downloading anything.
    for l in &manifest.layers {
        layer_compression(&l.media_type, &format!("layer {}", l.digest))?;
    }
    let _content = store.content_lock()?;
    let mut blobs: Vec<&Descriptor> = vec![&manifest.config];
    for l in &manifest.layers {
        if !blobs.iter().any(|b| b.digest == l.digest) {
            blobs.push(l);
        }
    }
    let missing: Vec<&Descriptor> = blobs
        .into_iter()
        .filter(|d| !store.has_blob(&d.digest))
        .collect();
    for l in &manifest.layers {
        if !missing.iter().any(|m| m.digest == l.digest) {
            progress.message(&format!("Layer {} already present", l.digest.short()));
        }
    }
    download_all(store, &client, &missing, opts.jobs, progress, created)?;
    let names = reference.tagged_name().into_iter().collect();
    let repo_digests = vec![format!("{}@{top_digest}", reference.name())];
    commit_image(
        store,
        &manifest_bytes,
        &media_type,
        names,
        repo_digests,
        opts.jobs,
        progress,
    )
}

fn verify(bytes: &[u8], desc: &Descriptor, what: &str) -> Result<()> {
    if bytes.len() as u64 != desc.size {
        return Err(Error::SizeMismatch {
            what: what.to_string(),
            expected: desc.size,
            actual: bytes.len() as u64,
        });
    }
    let got = Digest::of_bytes(bytes);
    if got != desc.digest {
        return Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: desc.digest.to_string(),
            actual: got.to_string(),
        });
    }
    Ok(())
}

fn download_all(
    store: &Store,
    client: &Client,
    blobs: &[&Descriptor],
    jobs: usize,
    progress: &dyn Progress,
    created: &mut Vec<Digest>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::new());
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, blobs.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(desc) = blobs.get(i) else { break };
                if failed.lock().map(|f| f.is_some()).unwrap_or(true) {
                    break;
                }
                match download(store, client, desc, progress) {
                    Ok(()) => {
                        if let Ok(mut d) = done.lock() {
                            d.push(desc.digest.clone());
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    created.extend(done.into_inner().unwrap_or_default());
    match failed.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn download(
    store: &Store,
    client: &Client,
    desc: &Descriptor,
    progress: &dyn Progress,
) -> Result<()> {
    let what = format!("blob {}", desc.digest);
    let mut bar = progress.start("Copying blob", &desc.digest, desc.size);
    let mut reader = client.get_blob(&desc.digest, &what)?;
    let result = store.ingest(
        &mut reader,
        Some((&desc.digest, desc.size)),
        &what,
        &mut |n| bar.advance(n),
    );
    bar.finish(if result.is_ok() { "done" } else { "failed" });
    result.map(|_| ())
}
