//! The file tree of an image built from host paths: which host files,
//! directories and symlinks go where, written out as one layer tar.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// One entry of the image, keyed by its path relative to `/`.
#[derive(Debug)]
pub enum Node {
    Dir { meta: Option<Metadata> },
    Symlink { target: PathBuf, meta: Metadata },
    File { source: PathBuf, meta: Metadata },
}

#[derive(Default, Debug)]
pub struct Tree {
    pub nodes: BTreeMap<PathBuf, Node>,
}

/// `path` made relative to `/`, with `.` dropped; `None` if `..` remains.
pub fn relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl Tree {
    /// Adds host path `path` as it is on the host: every symlink met on the
    /// way (in any component) is kept as a symlink and followed, every
    /// directory is kept with its metadata. Returns the real host path.
    pub fn add_host_path(&mut self, path: &Path) -> Result<PathBuf> {
        let mut pending: Vec<PathBuf> = Vec::new();
        for c in path.components().rev() {
            if let Component::Normal(n) = c {
                pending.push(PathBuf::from(n));
            } else if c == Component::ParentDir {
                pending.push(PathBuf::from(".."));
            }
        }
        let mut cur = PathBuf::from("/");
        let mut hops = 0;
        while let Some(next) = pending.pop() {
            if next.as_os_str() == ".." {
                cur.pop();
                continue;
            }
            let candidate = cur.join(&next);
            let meta = std::fs::symlink_metadata(&candidate).ctx_path("inspecting", &candidate)?;
            let rel = relative(&candidate)
                .ok_or_else(|| Error::malformed(candidate.display().to_string(), "bad path"))?;
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return Err(Error::io_path(
                        "resolving",
                        path,
                        std::io::Error::from_raw_os_error(libc::ELOOP),
                    ));
                }
                let target = std::fs::read_link(&candidate).ctx_path("reading link", &candidate)?;
                self.nodes.insert(
                    rel,
                    Node::Symlink {
                        target: target.clone(),
                        meta,
                    },
                );
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(PathBuf::from(n)),
                        Component::ParentDir => pending.push(PathBuf::from("..")),
                        _ => {}
                    }
                }
            } else if meta.is_dir() {
                self.nodes
                    .entry(rel)
                    .or_insert(Node::Dir { meta: Some(meta) });
                cur = candidate;
            } else if pending.is_empty() {
                self.nodes.insert(
                    rel,
                    Node::File {
                        source: candidate.clone(),
                        meta,
                    },
                );
                cur = candidate;
            } else {
                return Err(Error::io_path(
                    "resolving",
                    path,
                    std::io::Error::from_raw_os_error(libc::ENOTDIR),
                ));
            }
        }
        Ok(cur)
    }

    /// Copies host `src` (file, symlink or whole directory) to `dest` in the
    /// image, like COPY: parents of `dest` are created as needed.
    pub fn add_copy(&mut self, src: &Path, dest: &Path) -> Result<()> {
        let rel = relative(dest).ok_or_else(|| {
            Error::malformed(format!("--add destination {}", dest.display()), "escapes /")
        })?;
        let mut parent = PathBuf::new();
        for c in rel.parent().into_iter().flat_map(|p| p.components()) {
            parent.push(c);
            self.nodes
                .entry(parent.clone())
                .or_insert(Node::Dir { meta: None });
        }
        self.copy_rec(src, rel)
    }

    fn copy_rec(&mut self, src: &Path, rel: PathBuf) -> Result<()> {
        let meta = std::fs::symlink_metadata(src).ctx_path("inspecting", src)?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(src).ctx_path("reading link", src)?;
            self.nodes.insert(rel, Node::Symlink { target, meta });
        } else if meta.is_dir() {
            self.nodes
                .insert(rel.clone(), Node::Dir { meta: Some(meta) });
            let mut children: Vec<_> = std::fs::read_dir(src)
                .ctx_path("listing", src)?
                .collect::<std::io::Result<Vec<_>>>()
                .ctx_path("listing", src)?;
            children.sort_by_key(|e| e.file_name());
            for child in children {
                self.copy_rec(&child.path(), rel.join(child.file_name()))?;
            }
        } else if meta.is_file() {
            self.nodes.insert(
                rel,
                Node::File {
                    source: src.to_path_buf(),
                    meta,
                },
            );
        } else {
            return Err(Error::malformed(
                src.display().to_string(),
                "only files, directories and symlinks can be added",
            ));
        }
        Ok(())
    }

    /// Writes the tree as an uncompressed layer tar, parents first.
    pub fn write_tar(&self, out: impl Write) -> Result<()> {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        let werr = |p: &Path, e: std::io::Error| {
            Error::io(format!("writing layer entry {}", p.display()), e)
        };
        for (path, node) in &self.nodes {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            let set_meta = |h: &mut tar::Header, m: &Metadata| {
                h.set_mode(m.mode() & 0o7777);
                h.set_uid(m.uid().into());
                h.set_gid(m.gid().into());
                h.set_mtime(m.mtime().max(0) as u64);
            };
            match node {
                Node::Dir { meta } => {
                    h.set_entry_type(tar::EntryType::Directory);
                    match meta {
                        Some(m) => set_meta(&mut h, m),
                        None => h.set_mode(0o755),
                    }
                    h.set_size(0);
                    builder
                        .append_data(&mut h, path, std::io::empty())
                        .map_err(|e| werr(path, e))?;
                }
                Node::Symlink { target, meta } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    set_meta(&mut h, meta);
                    h.set_mode(0o777);
                    h.set_size(0);
                    builder
                        .append_link(&mut h, path, target)
                        .map_err(|e| werr(path, e))?;
                }
                Node::File { source, meta } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    set_meta(&mut h, meta);
                    let f = std::fs::File::open(source).ctx_path("opening", source)?;
                    h.set_size(f.metadata().ctx_path("inspecting", source)?.len());
                    builder
                        .append_data(&mut h, path, f)
                        .map_err(|e| werr(path, e))?;
                }
            }
        }
        builder
            .finish()
            .map_err(|e| Error::io("finishing layer tar", e))
    }
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (image `created`).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn keeps_symlinked_components() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        std::fs::create_dir_all(base.join("usr/lib")).unwrap();
        std::fs::write(base.join("usr/lib/libx.so.1.2"), b"x").unwrap();
        std::os::unix::fs::symlink("usr/lib", base.join("lib")).unwrap();
        std::os::unix::fs::symlink("libx.so.1.2", base.join("usr/lib/libx.so.1")).unwrap();
        let mut tree = Tree::default();
        let real = tree.add_host_path(&base.join("lib/libx.so.1")).unwrap();
        assert_eq!(real, base.join("usr/lib/libx.so.1.2"));
        let rel = |p: &str| relative(&base.join(p)).unwrap();
        assert!(matches!(
            tree.nodes.get(&rel("lib")),
            Some(Node::Symlink { .. })
        ));
        assert!(matches!(
            tree.nodes.get(&rel("usr/lib/libx.so.1")),
            Some(Node::Symlink { .. })
        ));
        assert!(matches!(
            tree.nodes.get(&rel("usr/lib/libx.so.1.2")),
            Some(Node::File { .. })
        ));
        assert!(matches!(
            tree.nodes.get(&rel("usr/lib")),
            Some(Node::Dir { .. })
        ));
    }
}
