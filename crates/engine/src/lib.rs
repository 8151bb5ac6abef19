//! The `onggi` engine's commands as library functions: the binary only
//! parses arguments and prints.

mod bundle;
mod error;
mod format;
mod progress;
mod seccomp;
mod spec;
mod user;

use std::path::{Path, PathBuf};

pub use bundle::{create_bundle, remove_bundle, BundleInfo};
pub use error::{EngineError, Result};
pub use format::{human_size, images_table, ImageSummary};
pub use progress::Bars;

use onggi_image::archive::ArchiveFormat;
use onggi_image::build::{build_from_host, BuildOptions};
use onggi_image::pull::{pull, PullOptions};
use onggi_image::registry::{Credentials, RegistryConfig};
use onggi_image::{ImageRecord, Platform, Progress, Reference, Store};

/// Where a registries config lives unless `--registries-conf` says otherwise.
pub const DEFAULT_REGISTRIES_CONF: &str = "/etc/onggi/registries.json";

/// An engine over one store root.
pub struct Engine {
    pub store: Store,
    progress: Box<dyn Progress>,
}

/// Options of `onggi pull`.
#[derive(Debug, Clone, Default)]
pub struct PullArgs {
    pub platform: Option<String>,
    pub insecure: bool,
    pub creds: Option<String>,
    pub registries_conf: Option<PathBuf>,
}

impl Engine {
    pub fn open(root: &Path, quiet: bool) -> Result<Self> {
        Ok(Engine {
            store: Store::open(root)?,
            progress: Box::new(Bars::new(quiet)),
        })
    }

    /// `onggi pull REF`.
    pub fn pull(&self, reference: &str, args: &PullArgs) -> Result<ImageRecord> {
        let reference = Reference::parse(reference)?;
        let mut registry = RegistryConfig {
            insecure_all: args.insecure,
            ..RegistryConfig::default()
        };
        let conf = args
            .registries_conf
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_REGISTRIES_CONF));
        registry.load_file(&conf)?;
        if let Some(c) = &args.creds {
            registry.credentials =
                Some(Credentials::parse(c).ok_or_else(|| {
                    EngineError::Usage("--creds takes USER:PASSWORD".to_string())
                })?);
        }
        let platform = match &args.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        let opts = PullOptions {
            platform,
            registry,
            jobs: 4,
        };
        Ok(pull(
            &self.store,
            &reference,
            &opts,
            self.progress.as_ref(),
        )?)
    }

    /// `onggi images`.
    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        let mut images = self.store.list_images()?;
        images.sort_by_key(|i| std::cmp::Reverse(i.added));
        Ok(images.iter().map(ImageSummary::from).collect())
    }

    /// `onggi image inspect NAME`: the record, its manifest and its config.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value> {
        let image = self.store.find_image(name)?;
        let parse = |d: &onggi_image::Digest| -> Result<serde_json::Value> {
            let bytes = self.store.read_blob(d)?;
            Ok(serde_json::from_slice(&bytes)
                .map_err(|e| onggi_image::Error::malformed(format!("blob {d}"), e.to_string()))?)
        };
        Ok(serde_json::json!({
            "Id": image.id.to_string(),
            "RepoTags": image.names,
            "RepoDigests": image.repo_digests,
            "Created": image.created,
            "Architecture": image.architecture,
            "Os": image.os,
            "Size": image.size(),
            "Layers": image.layers,
            "Manifest": parse(&image.manifest.digest)?,
            "ManifestDescriptor": image.manifest,
            "Config": parse(&image.config.digest)?,
        }))
    }

    /// `onggi rmi NAME...`: untag or delete, then collect garbage. Returns
    /// Docker-like "Untagged:" / "Deleted:" lines.
    pub fn rmi(&self, names: &[String], force: bool) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        let mut first_err = None;
        for n in names {
            match self.store.remove_image(n, force) {
                Ok(ids) if ids.is_empty() => lines.push(format!("Untagged: {n}")),
                Ok(ids) => lines.extend(ids.iter().map(|i| format!("Deleted: {i}"))),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let report = self.store.gc()?;
        if !report.blobs.is_empty() || !report.snapshots.is_empty() {
            lines.push(format!(
                "Removed {} blobs and {} snapshots ({})",
                report.blobs.len(),
                report.snapshots.len(),
                human_size(report.bytes)
            ));
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(lines),
        }
    }

    /// `onggi tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        Ok(self.store.tag_image(source, target)?)
    }

    /// `onggi build --from-host NAME BINARY... [--add SRC:DEST]`.
    pub fn build_from_host(
        &self,
        name: &str,
        binaries: &[PathBuf],
        adds: &[String],
    ) -> Result<ImageRecord> {
        let name = Reference::parse(name)?;
        let mut parsed = Vec::new();
        for a in adds {
            let (src, dest) = a
                .split_once(':')
                .filter(|(s, d)| !s.is_empty() && d.starts_with('/'))
                .ok_or_else(|| EngineError::Usage(format!("--add {a:?}: expected SRC:/DEST")))?;
            parsed.push((PathBuf::from(src), PathBuf::from(dest)));
        }
        let opts = BuildOptions {
            name,
            binaries: binaries.to_vec(),
            adds: parsed,
            ld_cache: PathBuf::from("/etc/ld.so.cache"),
        };
        Ok(build_from_host(&self.store, &opts, self.progress.as_ref())?)
    }

    /// `onggi bundle IMAGE DIR [CMD...]`.
    pub fn bundle(&self, image: &str, dir: &Path, command: &[String]) -> Result<BundleInfo> {
        create_bundle(&self.store, image, dir, command)
    }

    /// `onggi load -i PATH [--name NAME]`.
    pub fn load(&self, path: &Path, name: Option<&str>) -> Result<Vec<ImageRecord>> {
        Ok(onggi_image::archive::load(
            &self.store,
            path,
            name,
            self.progress.as_ref(),
        )?)
    }

    /// `onggi save -o PATH [--format F] IMAGE...`.
    pub fn save(&self, names: &[String], path: &Path, format: &str) -> Result<()> {
        let format: ArchiveFormat = format.parse()?;
        let mut images = Vec::new();
        for n in names {
            let image = self.store.find_image(n)?;
            // Keep the name the user gave when it names the image (not an ID).
            let name = Reference::parse(n)
                .ok()
                .and_then(|r| r.tagged_name())
                .filter(|t| image.names.contains(t));
            images.push((image, name));
        }
        Ok(onggi_image::archive::save(
            &self.store,
            &images,
            path,
            format,
        )?)
    }

    /// `onggi run [--runtime R] IMAGE [CMD...]`: bundles the image into a
    /// fresh directory under the store (overlay rootfs, private upper dir),
    /// runs `R run -b DIR ID` (by default onggi-runtime, found next to the
    /// running onggi binary), then unmounts and removes the bundle whatever
    /// the outcome. Returns the container's exit code.
    pub fn run(&self, image: &str, command: &[String], runtime: Option<&Path>) -> Result<i32> {
        let runtime = match runtime {
            Some(r) => r.to_path_buf(),
            None => std::env::current_exe()
                .map_err(|e| EngineError::io("locating the onggi binary", e))?
                .with_file_name("onggi-runtime"),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!("onggi-{}-{nanos:x}", std::process::id());
        let dir = self.store.root().join("containers").join(&id);
        self.bundle(image, &dir, command)?;
        let status = std::process::Command::new(&runtime)
            .args(["run", "-b"])
            .arg(&dir)
            .arg(&id)
            .status();
        let cleanup = self.unbundle(&dir);
        let status =
            status.map_err(|e| EngineError::io(format!("running {}", runtime.display()), e))?;
        cleanup?;
        Ok(status.code().unwrap_or(128 + 9))
    }

    /// `onggi unbundle DIR`.
    pub fn unbundle(&self, dir: &Path) -> Result<()> {
        remove_bundle(&self.store, dir)
    }
}
