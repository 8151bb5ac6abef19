//! `docker save` archives: `manifest.json` listing each image's config file,
//! repository tags and uncompressed layer tars.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::sink::{familiar_name, Sink};
use crate::commit::commit_image;
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::layer::decompress;
use crate::layer::safe::clean_components;
use crate::reference::Reference;
use crate::spec::{
    layer_compression, sniff_compression, Compression, Descriptor, Manifest, OCI_CONFIG, OCI_LAYER,
    OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_MANIFEST,
};
use crate::store::{ImageRecord, Store, TempGuard};
use crate::Progress;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// A path named in manifest.json, kept inside the archive.
fn member(dir: &Path, name: &str) -> Result<std::path::PathBuf> {
    let comps = clean_components(name.as_bytes())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Error::malformed(
                format!("manifest.json entry {name:?}"),
                "path escapes the archive",
            )
        })?;
    let mut p = dir.to_path_buf();
    for c in comps {
        p.push(c);
    }
    Ok(p)
}

fn ingest_file(store: &Store, path: &Path, created: &mut Vec<Digest>) -> Result<(Digest, u64)> {
    let mut f = std::fs::File::open(path).ctx_path("opening", path)?;
    let (d, size) = store.ingest(&mut f, None, &path.display().to_string(), &mut |_| {})?;
    created.push(d.clone());
    Ok((d, size))
}

pub fn load(
    store: &Store,
    dir: &Path,
    name: Option<&str>,
    progress: &dyn Progress,
) -> Result<Vec<ImageRecord>> {
    let mpath = dir.join("manifest.json");
    let data = std::fs::read(&mpath).ctx_path("reading", &mpath)?;
    let entries: Vec<Entry> = serde_json::from_slice(&data)
        .map_err(|e| Error::malformed(mpath.display().to_string(), e.to_string()))?;
    if name.is_some() && entries.len() != 1 {
        return Err(Error::malformed(
            mpath.display().to_string(),
            format!(
                "--name needs an archive with one image, this has {}",
                entries.len()
            ),
        ));
    }
    let mut created = Vec::new();
    let mut out = Vec::new();
    let result = (|| {
        for e in &entries {
            let (config_digest, config_size) =
                ingest_file(store, &member(dir, &e.config)?, &mut created)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let path = member(dir, l)?;
                let mut head = [0u8; 8];
                let n = std::fs::File::open(&path)
                    .and_then(|mut f| f.read(&mut head))
                    .ctx_path("reading", &path)?;
                let media = match sniff_compression(&head[..n]) {
                    Compression::None => OCI_LAYER,
                    Compression::Gzip => OCI_LAYER_GZIP,
                    Compression::Zstd => OCI_LAYER_ZSTD,
                };
                let (d, size) = ingest_file(store, &path, &mut created)?;
                layers.push(Descriptor::new(media, d, size));
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(OCI_MANIFEST.to_string()),
                config: Descriptor::new(OCI_CONFIG, config_digest, config_size),
                layers,
                annotations: None,
            };
            let bytes = serde_json::to_vec(&manifest)
                .map_err(|e| Error::malformed("manifest", e.to_string()))?;
            let names = match name {
                Some(n) => vec![n.to_string()],
                None => e.repo_tags.clone().unwrap_or_default(),
            };
            let names = names
                .iter()
                .map(|n| Reference::parse(n).map(|r| r.tagged_name()))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .flatten()
                .collect();
            out.push(commit_image(
                store,
                &bytes,
                OCI_MANIFEST,
                names,
                Vec::new(),
                4,
                progress,
            )?);
        }
        Ok(())
    })();
    if let Err(e) = result {
        let images = store.list_images().unwrap_or_default();
        for d in created {
            // Only blobs no recorded image uses: a blob this load re-ingested
            // may belong to an image that was already there.
            if !images.iter().any(|i| {
                i.config.digest == d
                    || i.manifest.digest == d
                    || i.layers.iter().any(|l| l.digest == d)
            }) {
                let _ = std::fs::remove_file(store.blob_path(&d));
            }
        }
        return Err(e);
    }
    Ok(out)
}

pub fn save(
    store: &Store,
    images: &[(ImageRecord, Option<String>)],
    sink: &mut Sink,
) -> Result<()> {
    let mut entries = Vec::new();
    let mut written = std::collections::HashSet::new();
    for (image, name) in images {
        let config_name = format!("{}.json", image.config.digest.hex());
        if written.insert(config_name.clone()) {
            let mut f = store.open_blob(&image.config.digest)?;
            sink.add(&config_name, image.config.size, &mut f)?;
        }
        let mut layer_names = Vec::new();
        for l in &image.layers {
            let lname = format!("{}/layer.tar", l.diff_id.hex());
            if written.insert(lname.clone()) {
                // Docker archives hold uncompressed layers: decompress to a
                // temporary file first, as the tar header needs the size.
                let tmp = TempGuard::new(store.temp_path("save"));
                let blob = store.open_blob(&l.digest)?;
                let compression = layer_compression(&l.media_type, &format!("layer {}", l.digest))?;
                let mut reader = HashingReader::new(
                    decompress(blob, Some(compression)).ctx(|| format!("layer {}", l.digest))?,
                );
                let mut out = std::fs::File::create(tmp.path()).ctx_path("creating", tmp.path())?;
                std::io::copy(&mut reader, &mut out)
                    .ctx(|| format!("decompressing layer {}", l.digest))?;
                let (diff_id, size) = reader.finish();
                if diff_id != l.diff_id {
                    return Err(Error::DigestMismatch {
                        what: format!("layer {} (uncompressed)", l.digest),
                        expected: l.diff_id.to_string(),
                        actual: diff_id.to_string(),
                    });
                }
                let mut f = std::fs::File::open(tmp.path()).ctx_path("opening", tmp.path())?;
                sink.add(&lname, size, &mut f)?;
            }
            layer_names.push(lname);
        }
        let tags = match name {
            Some(n) => vec![familiar_name(n)],
            None => image.names.iter().map(|n| familiar_name(n)).collect(),
        };
        entries.push(Entry {
            config: config_name,
            repo_tags: Some(tags),
            layers: layer_names,
        });
    }
    let data = serde_json::to_vec(&entries)
        .map_err(|e| Error::malformed("manifest.json", e.to_string()))?;
    sink.add_bytes("manifest.json", &data)
}
