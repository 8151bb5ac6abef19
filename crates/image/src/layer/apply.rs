//! Extracting one layer tar into an empty snapshot directory.
//!
//! The tar is hostile input: every path is cleaned (`..` above the root is
//! rejected) and every parent is resolved with RESOLVE_IN_ROOT, so neither
//! the entry names, nor symlinks created by earlier entries, nor hard-link
//! targets can reach outside the snapshot.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{
    fchmodat, mkdirat, mknodat, utimensat, FchmodatFlags, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, Gid, Uid};
use tar::EntryType;

use super::safe::{clean_components, kind_at, remove_all_at, set_xattr_at, Root};
use super::whiteout::{make_opaque, make_whiteout, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};

/// How to check an extraction.
pub struct ApplyOptions<'a> {
    /// Names the layer in errors.
    pub layer: &'a str,
    /// The uncompressed stream must have this digest (the config's diff ID).
    pub diff_id: Option<&'a Digest>,
}

struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Extracts a (decompressed) layer tar into `dest`, an empty directory.
/// Returns the digest of the uncompressed stream.
pub fn apply_layer(reader: impl Read, dest: &Path, opts: &ApplyOptions) -> Result<Digest> {
    let root = Root::open(dest)?;
    let mut hashing = HashingReader::new(reader);
    let mut dir_times: Vec<(Vec<OsString>, u64)> = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let entries = archive
            .entries()
            .map_err(|e| layer_err(opts, "", e.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|e| layer_err(opts, "", format!("reading tar: {e}")))?;
            apply_entry(&root, entry, opts, &mut dir_times)?;
        }
    }
    // Directory times last: creating entries inside changed them.
    for (comps, mtime) in dir_times.iter().rev() {
        if let Ok(fd) = root.open_in(comps, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            let t = TimeSpec::new(*mtime as i64, 0);
            let _ = utimensat(fd.as_fd(), ".", &t, &t, UtimensatFlags::FollowSymlink);
        }
    }
    // Hash the end-of-archive padding too, as the diff ID covers the whole stream.
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| layer_err(opts, "", format!("reading tar: {e}")))?;
    let (digest, _) = hashing.finish();
    if let Some(want) = opts.diff_id {
        if &digest != want {
            return Err(Error::DigestMismatch {
                what: format!("layer {} (uncompressed)", opts.layer),
                expected: want.to_string(),
                actual: digest.to_string(),
            });
        }
    }
    Ok(digest)
}

fn layer_err(opts: &ApplyOptions, entry: &str, reason: String) -> Error {
    Error::UnsafeEntry {
        layer: opts.layer.to_string(),
        entry: entry.to_string(),
        reason,
    }
}

fn apply_entry<R: Read>(
    root: &Root,
    mut entry: tar::Entry<R>,
    opts: &ApplyOptions,
    dir_times: &mut Vec<(Vec<OsString>, u64)>,
) -> Result<()> {
    let raw_path = entry.path_bytes().into_owned();
    let shown = String::from_utf8_lossy(&raw_path).into_owned();
    let err = |reason: String| layer_err(opts, &shown, reason);
    let io_err = |action: &str, e: std::io::Error| err(format!("{action}: {e}"));
    let comps =
        clean_components(&raw_path).ok_or_else(|| err("path escapes the root with '..'".into()))?;
    let xattrs = read_xattrs(&mut entry);
    let header = entry.header();
    let kind = header.entry_type();
    let meta = Meta {
        mode: header.mode().map_err(|e| io_err("mode", e))? & 0o7777,
        uid: header.uid().map_err(|e| io_err("uid", e))?,
        gid: header.gid().map_err(|e| io_err("gid", e))?,
        mtime: header.mtime().unwrap_or(0),
        xattrs,
    };
    let Some((name, parent)) = comps.split_last() else {
        // The root directory itself ("./"): keep its metadata.
        if kind == EntryType::Directory {
            let fd = root
                .open_in(&[], OFlag::O_PATH | OFlag::O_DIRECTORY)
                .map_err(|e| io_err("opening root", e.into()))?;
            set_meta(&fd, OsStr::new("."), &meta, false)
                .map_err(|e| io_err("setting metadata", e))?;
            dir_times.push((Vec::new(), meta.mtime));
        }
        return Ok(());
    };
    if let Some(rest) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        if name.as_bytes() == OPAQUE_MARKER.as_bytes() {
            let (dname, dparent) = parent
                .split_last()
                .ok_or_else(|| err("opaque marker at the root".into()))?;
            root.dir(parent)?;
            let pfd = root.dir(dparent)?;
            make_opaque(&pfd, dname).map_err(|e| io_err("marking directory opaque", e))?;
        } else {
            if rest.is_empty() || rest == b"." || rest == b".." {
                return Err(err("whiteout without a name".into()));
            }
            let pfd = root.dir(parent)?;
            make_whiteout(&pfd, OsStr::from_bytes_ext(rest))
                .map_err(|e| io_err("creating whiteout", e))?;
        }
        return Ok(());
    }
    let pfd = root.dir(parent)?;
    let existing =
        kind_at(&pfd, name).map_err(|e| io_err("inspecting existing entry", e.into()))?;
    let is_dir = kind == EntryType::Directory;
    match existing {
        Some(SFlag::S_IFDIR) if is_dir => {}
        Some(_) => {
            remove_all_at(&pfd, name).map_err(|e| io_err("replacing existing entry", e.into()))?
        }
        None => {}
    }
    match kind {
        EntryType::Directory => {
            if existing != Some(SFlag::S_IFDIR) {
                mkdirat(
                    pfd.as_fd(),
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o700),
                )
                .map_err(|e| io_err("creating directory", e.into()))?;
            }
            dir_times.push((comps.clone(), meta.mtime));
        }
        EntryType::Regular | EntryType::Continuous => {
            let fd = nix::fcntl::openat(
                pfd.as_fd(),
                name.as_os_str(),
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(|e| io_err("creating file", e.into()))?;
            let mut out = std::io::BufWriter::with_capacity(128 << 10, std::fs::File::from(fd));
            std::io::copy(&mut entry, &mut out).map_err(|e| io_err("writing file", e))?;
            out.flush().map_err(|e| io_err("writing file", e))?;
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| err("symlink without a target".into()))?;
            symlinkat(
                OsStr::from_bytes_ext(&target),
                pfd.as_fd(),
                name.as_os_str(),
            )
            .map_err(|e| io_err("creating symlink", e.into()))?;
        }
        EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| err("hard link without a target".into()))?;
            let tcomps = clean_components(&target).ok_or_else(|| {
                err(format!(
                    "hard link target {:?} escapes the root",
                    String::from_utf8_lossy(&target)
                ))
            })?;
            let (tname, tparent) = tcomps
                .split_last()
                .ok_or_else(|| err("hard link to the root".into()))?;
            let tfd = root
                .open_in(tparent, OFlag::O_PATH | OFlag::O_DIRECTORY)
                .map_err(|e| io_err("resolving hard link target", e.into()))?;
            linkat(
                tfd.as_fd(),
                tname.as_os_str(),
                pfd.as_fd(),
                name.as_os_str(),
                AtFlags::empty(),
            )
            .map_err(|e| {
                io_err(
                    &format!("hard-linking to {:?}", String::from_utf8_lossy(&target)),
                    e.into(),
                )
            })?;
            // A hard link shares the target's inode and metadata.
            return Ok(());
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let sflag = match kind {
                EntryType::Char => SFlag::S_IFCHR,
                EntryType::Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            let major = entry.header().device_major().ok().flatten().unwrap_or(0);
            let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
            let dev = libc::makedev(major, minor);
            mknodat(
                pfd.as_fd(),
                name.as_os_str(),
                sflag,
                Mode::from_bits_truncate(0o600),
                dev,
            )
            .map_err(|e| io_err("creating device node", e.into()))?;
        }
        // Metadata-only records (pax, GNU long names) are consumed by the tar
        // reader; anything else has no file-system meaning here.
        other => return Err(err(format!("unsupported tar entry type {other:?}"))),
    }
    set_meta(&pfd, name, &meta, kind == EntryType::Symlink)
        .map_err(|e| io_err("setting metadata", e))
}

/// Owner, mode (after the owner, which would clear set-id bits), xattrs and mtime.
fn set_meta(dir: &OwnedFd, name: &OsStr, meta: &Meta, symlink: bool) -> std::io::Result<()> {
    let to_id = |v: u64| {
        u32::try_from(v).map_err(|_| std::io::Error::other(format!("id {v} out of range")))
    };
    fchownat(
        dir.as_fd(),
        name,
        Some(Uid::from_raw(to_id(meta.uid)?)),
        Some(Gid::from_raw(to_id(meta.gid)?)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if !symlink {
        // Not a symlink (we just created it), so following is moot.
        fchmodat(
            dir.as_fd(),
            name,
            Mode::from_bits_truncate(meta.mode),
            FchmodatFlags::FollowSymlink,
        )?;
    }
    for (key, value) in &meta.xattrs {
        set_xattr_at(dir, name, key, value)?;
    }
    let t = TimeSpec::new(meta.mtime as i64, 0);
    utimensat(dir.as_fd(), name, &t, &t, UtimensatFlags::NoFollowSymlink)?;
    Ok(())
}

/// Extended attributes from PAX `SCHILY.xattr.*` records. Overlay's own
/// `trusted.overlay.*` attributes are dropped: a layer must not be able to
/// forge opaque markers or redirects in another layer's namespace.
fn read_xattrs<R: Read>(entry: &mut tar::Entry<R>) -> Vec<(String, Vec<u8>)> {
    let Ok(Some(exts)) = entry.pax_extensions() else {
        return Vec::new();
    };
    exts.filter_map(|e| e.ok())
        .filter_map(|e| {
            let key = e.key().ok()?.strip_prefix("SCHILY.xattr.")?.to_string();
            (!key.starts_with("trusted.overlay.")).then(|| (key, e.value_bytes().to_vec()))
        })
        .collect()
}

trait FromBytesExt {
    fn from_bytes_ext(b: &[u8]) -> &OsStr;
}

impl FromBytesExt for OsStr {
    fn from_bytes_ext(b: &[u8]) -> &OsStr {
        std::os::unix::ffi::OsStrExt::from_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// A tar entry with raw (possibly hostile) names, as tar::Builder refuses them.
    fn entry(
        b: &mut tar::Builder<Vec<u8>>,
        name: &[u8],
        kind: EntryType,
        link: &[u8],
        data: &[u8],
    ) {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn apply(
        build: impl FnOnce(&mut tar::Builder<Vec<u8>>),
    ) -> (tempfile::TempDir, Result<Digest>) {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let data = b.into_inner().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("root")).unwrap();
        let opts = ApplyOptions {
            layer: "test",
            diff_id: None,
        };
        let r = apply_layer(&data[..], &tmp.path().join("root"), &opts);
        (tmp, r)
    }

    #[test]
    fn rejects_dotdot_and_escaping_hard_links() {
        let (_t, r) = apply(|b| entry(b, b"../evil", EntryType::Regular, b"", b"x"));
        assert!(matches!(r, Err(Error::UnsafeEntry { .. })), "{r:?}");
        let (_t, r) = apply(|b| entry(b, b"h", EntryType::Link, b"../../etc/passwd", b""));
        assert!(r.unwrap_err().to_string().contains("escapes the root"));
        // Through a symlink: resolved inside the root, where there is no passwd.
        let (t, r) = apply(|b| {
            entry(b, b"s", EntryType::Symlink, b"/etc", b"");
            entry(b, b"h", EntryType::Link, b"s/passwd", b"");
        });
        assert!(r.is_err());
        assert!(!t.path().join("root/h").exists());
    }

    #[test]
    fn writes_through_symlinks_stay_inside() {
        let (t, r) = apply(|b| {
            entry(b, b"up", EntryType::Symlink, b"../../../../../..", b"");
            entry(b, b"abs", EntryType::Symlink, b"/", b"");
            entry(
                b,
                b"up/tmp/onggi-escape-test",
                EntryType::Regular,
                b"",
                b"x",
            );
            entry(b, b"abs/inside", EntryType::Regular, b"", b"y");
        });
        r.unwrap();
        let root = t.path().join("root");
        assert!(root.join("tmp/onggi-escape-test").is_file());
        assert!(!std::path::Path::new("/tmp/onggi-escape-test").exists());
        assert_eq!(std::fs::read(root.join("inside")).unwrap(), b"y");
        assert_eq!(
            std::fs::read_link(root.join("abs")).unwrap(),
            std::path::Path::new("/")
        );
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        let (t, r) = apply(|b| {
            entry(b, b"d/", EntryType::Directory, b"", b"");
            entry(b, b"d/.wh..wh..opq", EntryType::Regular, b"", b"");
            entry(b, b"d/.wh.gone", EntryType::Regular, b"", b"");
            entry(b, b"d/kept", EntryType::Regular, b"", b"k");
            entry(b, b"d/hard", EntryType::Link, b"d/kept", b"");
        });
        r.unwrap();
        let d = t.path().join("root/d");
        let wh = std::fs::symlink_metadata(d.join("gone")).unwrap();
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        let mut buf = [0u8; 8];
        let path = std::ffi::CString::new(d.as_os_str().as_encoded_bytes()).unwrap();
        let key = std::ffi::CString::new(OVERLAY_OPAQUE_XATTR_FOR_TEST).unwrap();
        // SAFETY: valid C strings and a live buffer of the given length.
        let n = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                key.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!(n, 1);
        assert_eq!(buf[0], b'y');
        assert!(!d.join(".wh.gone").exists());
        assert_eq!(
            std::fs::metadata(d.join("hard")).unwrap().ino(),
            std::fs::metadata(d.join("kept")).unwrap().ino()
        );
        assert_eq!(std::fs::metadata(&d).unwrap().mtime(), 1_000_000);
    }

    const OVERLAY_OPAQUE_XATTR_FOR_TEST: &str = super::super::whiteout::OVERLAY_OPAQUE_XATTR;

    #[test]
    fn checks_the_diff_id() {
        let mut b = tar::Builder::new(Vec::new());
        entry(&mut b, b"f", EntryType::Regular, b"", b"data");
        let data = b.into_inner().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let wrong = Digest::of_bytes(b"other");
        let opts = ApplyOptions {
            layer: "l",
            diff_id: Some(&wrong),
        };
        let err = apply_layer(&data[..], tmp.path(), &opts).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        let right = Digest::of_bytes(&data);
        let tmp2 = tempfile::tempdir().unwrap();
        let opts = ApplyOptions {
            layer: "l",
            diff_id: Some(&right),
        };
        assert_eq!(apply_layer(&data[..], tmp2.path(), &opts).unwrap(), right);
    }
}
