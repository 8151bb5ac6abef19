//! The image-side JSON documents: descriptors, manifests, indexes and image
//! configs, for both OCI and Docker v2s2 media types.
//!
//! These are small serde structs rather than `oci_spec::image` types because
//! Docker documents (manifest lists, v2s2 manifests, `docker save` archives)
//! must parse through the same code and unknown fields must be tolerated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Media types a manifest request accepts, most preferred first.
pub const MANIFEST_ACCEPT: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// Largest manifest or config read into memory (Docker uses 4 MiB too).
pub const MAX_JSON_SIZE: u64 = 4 << 20;

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The compression of a layer media type, or an error for media types onggi cannot unpack.
pub fn layer_compression(media_type: &str, what: &str) -> Result<Compression> {
    let base = media_type.replace(".nondistributable", "");
    match base.as_str() {
        OCI_LAYER | DOCKER_LAYER_TAR => Ok(Compression::None),
        OCI_LAYER_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN => Ok(Compression::Gzip),
        OCI_LAYER_ZSTD => Ok(Compression::Zstd),
        _ => Err(Error::UnsupportedMediaType {
            what: what.to_string(),
            media_type: media_type.to_string(),
        }),
    }
}

/// Sniffs a compression from the first bytes of a blob (for archives whose
/// media types do not say).
pub fn sniff_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: None,
            urls: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    /// The platform of this machine, as OCI names it.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant: (architecture == "arm64").then(|| "v8".to_string()),
            os_version: None,
        }
    }

    /// Parses `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
                os_version: None,
            }),
            _ => Err(Error::malformed(
                format!("platform {s:?}"),
                "expected OS/ARCH[/VARIANT]",
            )),
        }
    }

    /// Whether a manifest for `other` runs here; a missing variant matches any.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<serde_json::Value>,
}

/// What the image says to run, and how.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

/// What a manifest-endpoint document turned out to be.
pub enum ManifestDoc {
    Index(Index),
    Manifest(Box<Manifest>),
}

/// Parses a manifest or index, from its declared media type (the HTTP
/// Content-Type or descriptor) or, failing that, its own `mediaType` field.
/// Returns the document and its media type.
pub fn parse_manifest_doc(
    bytes: &[u8],
    declared: Option<&str>,
    what: &str,
) -> Result<(ManifestDoc, String)> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::malformed(what, format!("not JSON: {e}")))?;
    let inner = value.get("mediaType").and_then(|m| m.as_str());
    let declared = declared.map(|d| d.split(';').next().unwrap_or(d).trim());
    let media_type = match (declared, inner) {
        (Some(d), _) if MANIFEST_ACCEPT.contains(&d) => d.to_string(),
        (_, Some(m)) => m.to_string(),
        // OCI allows the field to be absent: tell an index by its `manifests`.
        (_, None) if value.get("manifests").is_some() => OCI_INDEX.to_string(),
        (_, None) if value.get("config").is_some() => OCI_MANIFEST.to_string(),
        (d, None) => d.unwrap_or("(none)").to_string(),
    };
    if value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1) {
        return Err(Error::UnsupportedMediaType {
            what: what.to_string(),
            media_type: "Docker image manifest schema 1".to_string(),
        });
    }
    let malformed = |e: serde_json::Error| Error::malformed(what, e.to_string());
    match media_type.as_str() {
        OCI_INDEX | DOCKER_LIST => Ok((
            ManifestDoc::Index(serde_json::from_value(value).map_err(malformed)?),
            media_type,
        )),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok((
            ManifestDoc::Manifest(Box::new(serde_json::from_value(value).map_err(malformed)?)),
            media_type,
        )),
        other => Err(Error::UnsupportedMediaType {
            what: what.to_string(),
            media_type: other.to_string(),
        }),
    }
}

/// Picks the manifest for `platform` out of an index.
pub fn select_platform<'a>(
    index: &'a Index,
    platform: &Platform,
    what: &str,
) -> Result<&'a Descriptor> {
    let candidates = index
        .manifests
        .iter()
        .filter(|d| MANIFEST_ACCEPT.contains(&d.media_type.as_str()));
    let mut best: Option<&Descriptor> = None;
    for d in candidates {
        if let Some(p) = &d.platform {
            if platform.matches(p) {
                // Prefer an exact variant match over a variant-less one.
                if best.is_none() || p.variant == platform.variant {
                    best = Some(d);
                }
            }
        }
    }
    best.ok_or_else(|| Error::NoMatchingPlatform {
        what: what.to_string(),
        platform: platform.to_string(),
        available: index
            .manifests
            .iter()
            .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_platform_from_index() {
        let json = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
          "manifests":[
           {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
           {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":2,"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let (ManifestDoc::Index(idx), _) = parse_manifest_doc(json.as_bytes(), None, "t").unwrap()
        else {
            panic!("not an index")
        };
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(select_platform(&idx, &amd, "t").unwrap().size, 2);
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(select_platform(&idx, &arm, "t").unwrap().size, 1);
        let err = select_platform(&idx, &Platform::parse("linux/s390x").unwrap(), "t").unwrap_err();
        assert!(
            err.to_string().contains("linux/arm64/v8, linux/amd64"),
            "{err}"
        );
    }

    #[test]
    fn rejects_unknown_media_types() {
        let json = br#"{"schemaVersion":2,"mediaType":"application/x-nope","config":{}}"#;
        assert!(matches!(
            parse_manifest_doc(json, None, "t"),
            Err(Error::UnsupportedMediaType { .. })
        ));
        assert!(layer_compression("application/x-foo", "l").is_err());
        assert_eq!(
            layer_compression(OCI_LAYER_ZSTD, "l").unwrap(),
            Compression::Zstd
        );
        assert!(parse_manifest_doc(b"{not json", None, "t").is_err());
    }
}
