//! `onggi build --from-host`: host binaries plus exactly the libraries
//! ld.so would load for them, found the way ld.so finds them.

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};

use super::elf::{read_elf, ElfInfo};
use super::ldcache::LdCache;
use super::tree::{rfc3339, Tree};
use crate::commit::commit_image;
use crate::digest::HashingWriter;
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;
use crate::spec::{
    Descriptor, ImageConfig, Manifest, Platform, RootFs, RunConfig, OCI_CONFIG, OCI_LAYER,
    OCI_MANIFEST,
};
use crate::store::{ImageRecord, Store, TempGuard};
use crate::Progress;

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub name: Reference,
    pub binaries: Vec<PathBuf>,
    /// `--add SRC:DEST` copies.
    pub adds: Vec<(PathBuf, PathBuf)>,
    /// The ld.so cache to consult.
    pub ld_cache: PathBuf,
}

/// Builds the image and records it under `opts.name`.
pub fn build_from_host(
    store: &Store,
    opts: &BuildOptions,
    progress: &dyn Progress,
) -> Result<ImageRecord> {
    build_inner(store, opts, progress)
        .map_err(|e| e.context(format!("building {} from host binaries", opts.name)))
}

fn build_inner(store: &Store, opts: &BuildOptions, progress: &dyn Progress) -> Result<ImageRecord> {
    if opts.binaries.is_empty() {
        return Err(Error::malformed("build --from-host", "no binaries given"));
    }
    let mut tree = Tree::default();
    let mut resolver = Resolver::new(LdCache::load(&opts.ld_cache)?);
    for bin in &opts.binaries {
        let bin = std::path::absolute(bin).ctx_path("resolving", bin)?;
        for path in resolver.closure(&bin)? {
            tree.add_host_path(&path)?;
        }
    }
    for (src, dest) in &opts.adds {
        tree.add_copy(src, dest)?;
    }
    progress.message(&format!("Adding {} paths", tree.nodes.len()));
    let _content = store.content_lock()?;
    let mut created = Vec::new();
    let result = write_image(store, opts, &tree, progress, &mut created);
    if result.is_err() {
        for d in created {
            let _ = std::fs::remove_file(store.blob_path(&d));
        }
    }
    result
}

fn write_image(
    store: &Store,
    opts: &BuildOptions,
    tree: &Tree,
    progress: &dyn Progress,
    created: &mut Vec<crate::Digest>,
) -> Result<ImageRecord> {
    let tmp = TempGuard::new(store.temp_path("layer"));
    let file = std::fs::File::create(tmp.path()).ctx_path("creating", tmp.path())?;
    let mut w = HashingWriter::new(std::io::BufWriter::new(file));
    tree.write_tar(&mut w)?;
    let (buf, layer_digest, layer_size) = w.finish();
    buf.into_inner()
        .map_err(|e| Error::io(format!("writing {}", tmp.path().display()), e.into_error()))?;
    if !store.has_blob(&layer_digest) {
        let dest = store.blob_path(&layer_digest);
        std::fs::rename(tmp.path(), &dest).ctx_path("storing layer", &dest)?;
        tmp.disarm();
        created.push(layer_digest.clone());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let platform = Platform::host();
    let first = opts.binaries[0].display().to_string();
    let config = ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        created: Some(rfc3339(now)),
        config: Some(RunConfig {
            env: Some(vec![DEFAULT_PATH.to_string()]),
            cmd: Some(vec![first]),
            ..RunConfig::default()
        }),
        rootfs: RootFs {
            kind: "layers".to_string(),
            diff_ids: vec![layer_digest.clone()],
        },
        history: vec![serde_json::json!({
            "created": rfc3339(now),
            "created_by": format!(
                "onggi build --from-host {}",
                opts.binaries.iter().map(|b| b.display().to_string()).collect::<Vec<_>>().join(" ")
            ),
        })],
        ..ImageConfig::default()
    };
    let config_bytes =
        serde_json::to_vec(&config).map_err(|e| Error::malformed("image config", e.to_string()))?;
    let config_digest = store.ingest_bytes(&config_bytes, "image config")?;
    created.push(config_digest.clone());
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_string()),
        config: Descriptor::new(OCI_CONFIG, config_digest, config_bytes.len() as u64),
        layers: vec![Descriptor::new(OCI_LAYER, layer_digest, layer_size)],
        annotations: None,
    };
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| Error::malformed("manifest", e.to_string()))?;
    let names = opts.name.tagged_name().into_iter().collect();
    commit_image(
        store,
        &manifest_bytes,
        OCI_MANIFEST,
        names,
        Vec::new(),
        1,
        progress,
    )
}

/// Finds libraries as ld.so does.
pub struct Resolver {
    cache: LdCache,
    default_dirs: Vec<PathBuf>,
}

impl Resolver {
    pub fn new(cache: LdCache) -> Self {
        let multiarch = match std::env::consts::ARCH {
            "x86_64" => "x86_64-linux-gnu",
            "aarch64" => "aarch64-linux-gnu",
            "x86" => "i386-linux-gnu",
            other => other,
        };
        // glibc's built-in trusted directories, with Debian's multiarch ones first.
        let default_dirs = [
            format!("/lib/{multiarch}"),
            format!("/usr/lib/{multiarch}"),
            "/lib64".into(),
            "/usr/lib64".into(),
            "/lib".into(),
            "/usr/lib".into(),
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        Resolver {
            cache,
            default_dirs,
        }
    }

    /// The host paths an image needs for `bin`: the file itself, its
    /// interpreter (ld.so, or a script's `#!` program) and every library
    /// in the breadth-first DT_NEEDED closure, in load order.
    pub fn closure(&mut self, bin: &Path) -> Result<Vec<PathBuf>> {
        let mut out = vec![bin.to_path_buf()];
        let Some(main) = read_elf(bin)? else {
            if let Some(interp) = script_interpreter(bin)? {
                out.extend(self.closure(&interp)?);
            }
            return Ok(out);
        };
        if let Some(interp) = &main.interpreter {
            out.push(PathBuf::from(interp));
        }
        let inherited = expand_all(&main.rpath, bin);
        let mut loaded: HashSet<String> = HashSet::new();
        let mut queue: VecDeque<(PathBuf, ElfInfo)> =
            VecDeque::from([(bin.to_path_buf(), main.clone())]);
        while let Some((obj, info)) = queue.pop_front() {
            for name in &info.needed {
                if !loaded.insert(name.clone()) {
                    continue;
                }
                let (path, lib) = self.find(name, &obj, &info, &inherited, &main)?;
                out.push(path.clone());
                queue.push_back((path, lib));
            }
        }
        Ok(out)
    }

    /// ld.so's order: DT_RPATH of the object and of the executable (only if
    /// the object has no DT_RUNPATH), DT_RUNPATH, the cache, the default
    /// directories. The first file of the program's class and machine wins.
    fn find(
        &self,
        name: &str,
        obj: &Path,
        info: &ElfInfo,
        inherited: &[PathBuf],
        main: &ElfInfo,
    ) -> Result<(PathBuf, ElfInfo)> {
        let check = |p: &Path| -> Option<ElfInfo> {
            let lib = read_elf(p).ok()??;
            main.compatible(&lib).then_some(lib)
        };
        if name.contains('/') {
            let p = PathBuf::from(name);
            return check(&p)
                .map(|l| (p, l))
                .ok_or_else(|| not_found(name, obj));
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        if info.runpath.is_empty() {
            dirs.extend(expand_all(&info.rpath, obj));
            dirs.extend(inherited.iter().cloned());
        }
        dirs.extend(expand_all(&info.runpath, obj));
        let from_dirs = dirs.iter().map(|d| d.join(name));
        let from_cache = self.cache.lookup(name).map(PathBuf::from);
        let defaults = self.default_dirs.iter().map(|d| d.join(name));
        for candidate in from_dirs.chain(from_cache).chain(defaults) {
            if let Some(lib) = check(&candidate) {
                return Ok((candidate, lib));
            }
        }
        Err(not_found(name, obj))
    }
}

fn not_found(name: &str, obj: &Path) -> Error {
    Error::Elf {
        path: obj.display().to_string(),
        reason: format!("needs {name}, which ld.so would not find (RPATH/RUNPATH, ld.so cache, default directories)"),
    }
}

/// Expands `$ORIGIN` (the object's real directory), `$LIB` and `$PLATFORM`.
fn expand_all(paths: &[String], obj: &Path) -> Vec<PathBuf> {
    let origin = std::fs::canonicalize(obj)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/"));
    let origin = origin.display().to_string();
    paths
        .iter()
        .map(|p| {
            PathBuf::from(
                p.replace("${ORIGIN}", &origin)
                    .replace("$ORIGIN", &origin)
                    .replace("${LIB}", "lib64")
                    .replace("$LIB", "lib64")
                    .replace("${PLATFORM}", std::env::consts::ARCH)
                    .replace("$PLATFORM", std::env::consts::ARCH),
            )
        })
        .collect()
}

/// The program named by a `#!` line, if `path` is a script.
fn script_interpreter(path: &Path) -> Result<Option<PathBuf>> {
    let mut head = [0u8; 256];
    let n = std::io::Read::read(
        &mut std::fs::File::open(path).ctx_path("opening", path)?,
        &mut head,
    )
    .ctx_path("reading", path)?;
    let head = &head[..n];
    let Some(rest) = head.strip_prefix(b"#!") else {
        return Ok(None);
    };
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    Ok(line.split_whitespace().next().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_closure_has_loader_and_libc() {
        let mut r = Resolver::new(LdCache::load(Path::new("/etc/ld.so.cache")).unwrap());
        let paths = r.closure(Path::new("/bin/ls")).unwrap();
        assert_eq!(paths[0], PathBuf::from("/bin/ls"));
        assert!(paths
            .iter()
            .any(|p| p.to_string_lossy().contains("ld-linux")));
        assert!(paths.iter().any(|p| p.ends_with("libc.so.6")));
        let unique: HashSet<_> = paths.iter().collect();
        assert_eq!(unique.len(), paths.len());
    }

    #[test]
    fn origin_expands() {
        let v = expand_all(&["$ORIGIN/../lib".to_string()], Path::new("/bin/ls"));
        assert!(v[0].to_string_lossy().ends_with("/bin/../lib"));
    }
}
