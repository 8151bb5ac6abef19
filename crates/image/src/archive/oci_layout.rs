//! OCI image layouts: `oci-layout`, `index.json` and `blobs/sha256/…`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::sink::Sink;
use crate::commit::commit_image;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::spec::{parse_manifest_doc, select_platform, Descriptor, Index, ManifestDoc, Platform};
use crate::store::{ImageRecord, Store};
use crate::Progress;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Copies a blob from the layout into the store, verifying it.
fn import_blob(
    store: &Store,
    dir: &Path,
    desc: &Descriptor,
    created: &mut Vec<Digest>,
) -> Result<()> {
    if store.has_blob(&desc.digest) {
        return Ok(());
    }
    let path = dir.join("blobs/sha256").join(desc.digest.hex());
    let mut f = std::fs::File::open(&path).ctx_path("opening blob", &path)?;
    let what = format!("blob {}", desc.digest);
    store.ingest(&mut f, Some((&desc.digest, desc.size)), &what, &mut |_| {})?;
    created.push(desc.digest.clone());
    Ok(())
}

fn read_verified(dir: &Path, desc: &Descriptor) -> Result<Vec<u8>> {
    let path = dir.join("blobs/sha256").join(desc.digest.hex());
    let data = std::fs::read(&path).ctx_path("reading blob", &path)?;
    let got = Digest::of_bytes(&data);
    if got != desc.digest || data.len() as u64 != desc.size {
        return Err(Error::DigestMismatch {
            what: format!("blob {} ({} bytes)", path.display(), data.len()),
            expected: format!("{} ({} bytes)", desc.digest, desc.size),
            actual: got.to_string(),
        });
    }
    Ok(data)
}

/// The name an index entry gives its image, if any.
fn entry_name(desc: &Descriptor, fallback: Option<&str>) -> Result<Option<String>> {
    if let Some(n) = fallback {
        return Ok(Reference::parse(n)?.tagged_name());
    }
    let ann = desc.annotations.clone().unwrap_or_default();
    if let Some(full) = ann.get(CONTAINERD_NAME) {
        return Ok(Reference::parse(full)?.tagged_name());
    }
    match ann.get(REF_NAME) {
        // A full reference, or just a tag: podman names those localhost/TAG.
        Some(r) if r.contains('/') => Ok(Reference::parse(r)?.tagged_name()),
        Some(tag) => Ok(Reference::parse(&format!("localhost/{tag}"))?.tagged_name()),
        None => Ok(None),
    }
}

pub fn load(
    store: &Store,
    dir: &Path,
    name: Option<&str>,
    progress: &dyn Progress,
) -> Result<Vec<ImageRecord>> {
    let index_path = dir.join("index.json");
    let data = std::fs::read(&index_path).ctx_path("reading", &index_path)?;
    let index: Index = serde_json::from_slice(&data)
        .map_err(|e| Error::malformed(index_path.display().to_string(), e.to_string()))?;
    if name.is_some() && index.manifests.len() != 1 {
        return Err(Error::malformed(
            index_path.display().to_string(),
            format!(
                "--name needs an archive with one image, this has {}",
                index.manifests.len()
            ),
        ));
    }
    let mut created = Vec::new();
    let mut out = Vec::new();
    let result = (|| {
        for desc in &index.manifests {
            let names: Vec<String> = entry_name(desc, name)?.into_iter().collect();
            let what = format!("manifest {}", desc.digest);
            let mut bytes = read_verified(dir, desc)?;
            let (mut doc, mut media_type) =
                parse_manifest_doc(&bytes, Some(&desc.media_type), &what)?;
            if let ManifestDoc::Index(inner) = &doc {
                let chosen = select_platform(inner, &Platform::host(), &what)?.clone();
                bytes = read_verified(dir, &chosen)?;
                (doc, media_type) = parse_manifest_doc(&bytes, Some(&chosen.media_type), &what)?;
            }
            let ManifestDoc::Manifest(manifest) = doc else {
                return Err(Error::malformed(what, "nested index"));
            };
            import_blob(store, dir, &manifest.config, &mut created)?;
            for l in &manifest.layers {
                import_blob(store, dir, l, &mut created)?;
            }
            out.push(commit_image(
                store,
                &bytes,
                &media_type,
                names,
                Vec::new(),
                4,
                progress,
            )?);
        }
        Ok(())
    })();
    if let Err(e) = result {
        for d in created {
            let _ = std::fs::remove_file(store.blob_path(&d));
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
    sink.add_bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut written = HashSet::new();
    let mut manifests = Vec::new();
    for (image, name) in images {
        let blobs = std::iter::once((&image.manifest.digest, image.manifest.size))
            .chain(std::iter::once((&image.config.digest, image.config.size)))
            .chain(image.layers.iter().map(|l| (&l.digest, l.size)));
        for (digest, size) in blobs {
            if written.insert(digest.clone()) {
                let mut f = store.open_blob(digest)?;
                sink.add(&format!("blobs/sha256/{}", digest.hex()), size, &mut f)?;
            }
        }
        let mut desc = image.manifest.clone();
        let full = name.clone().or_else(|| image.names.first().cloned());
        if let Some(full) = full {
            let r = Reference::parse(&full)?;
            let mut ann = BTreeMap::new();
            ann.insert(CONTAINERD_NAME.to_string(), full.clone());
            ann.insert(
                REF_NAME.to_string(),
                r.tag.clone().unwrap_or_else(|| "latest".into()),
            );
            desc.annotations = Some(ann);
        }
        manifests.push(desc);
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(crate::spec::OCI_INDEX.to_string()),
        manifests,
        annotations: None,
    };
    let data =
        serde_json::to_vec(&index).map_err(|e| Error::malformed("index.json", e.to_string()))?;
    sink.add_bytes("index.json", &data)
}
