//! Paths inside an untrusted directory tree. Every lookup goes through
//! openat2(RESOLVE_IN_ROOT), so `..` and symlinks (absolute or relative)
//! are resolved as if the tree were `/` and can never reach outside it.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::error::{Error, IoContext, Result};

/// Splits a path from an archive into its components, dropping `.`, empty
/// parts and a leading `/`. Returns `None` when a `..` would climb above
/// the root (such entries are rejected, not clamped).
pub fn clean_components(raw: &[u8]) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            p => out.push(OsStr::from_bytes(p).to_os_string()),
        }
    }
    Some(out)
}

/// An open directory that confines every path looked up in it.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    pub fn open(path: &Path) -> Result<Self> {
        let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC);
        let fd = openat2(nix::fcntl::AT_FDCWD, path, how).ctx_path("opening", path)?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    fn join(components: &[OsString]) -> PathBuf {
        let mut p = PathBuf::new();
        for c in components {
            p.push(c);
        }
        if p.as_os_str().is_empty() {
            p.push(".");
        }
        p
    }

    /// Opens `components` inside the root with `flags`.
    pub fn open_in(&self, components: &[OsString], flags: OFlag) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        openat2(self.fd.as_fd(), &Self::join(components), how)
    }

    /// Opens a directory inside the root, creating missing ones (mode 0755)
    /// like `mkdir -p`.
    pub fn dir(&self, components: &[OsString]) -> Result<OwnedFd> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match self.open_in(components, flags) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(self.err("opening directory", components, e)),
        }
        let mut fd = self
            .open_in(&[], flags)
            .map_err(|e| self.err("opening", &[], e))?;
        for i in 0..components.len() {
            match self.open_in(&components[..=i], flags) {
                Ok(next) => fd = next,
                Err(Errno::ENOENT) => {
                    match mkdirat(
                        fd.as_fd(),
                        components[i].as_os_str(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(self.err("creating directory", &components[..=i], e)),
                    }
                    fd = self
                        .open_in(&components[..=i], flags)
                        .map_err(|e| self.err("opening directory", &components[..=i], e))?;
                }
                Err(e) => return Err(self.err("opening directory", &components[..=i], e)),
            }
        }
        Ok(fd)
    }

    pub fn err(&self, action: &str, components: &[OsString], e: Errno) -> Error {
        Error::io(
            format!(
                "{action} {} in {}",
                Self::join(components).display(),
                self.path.display()
            ),
            e.into(),
        )
    }
}

/// What is at `name` in `dir`, without following a symlink.
pub fn kind_at(dir: &impl AsFd, name: &OsStr) -> nix::Result<Option<SFlag>> {
    match fstatat(dir.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes `name` in `dir` and, if it is a directory, everything under it,
/// never following symlinks.
pub fn remove_all_at(dir: &impl AsFd, name: &OsStr) -> nix::Result<()> {
    match kind_at(dir, name)? {
        None => Ok(()),
        Some(SFlag::S_IFDIR) => {
            let sub = nix::fcntl::openat(
                dir.as_fd(),
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let names: Vec<OsString> = {
                let mut d = nix::dir::Dir::from_fd(sub.try_clone().map_err(|_| Errno::EBADF)?)?;
                d.iter()
                    .filter_map(|e| e.ok())
                    .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
                    .filter(|n| n != "." && n != "..")
                    .collect()
            };
            for n in names {
                remove_all_at(&sub, &n)?;
            }
            unlinkat(dir.as_fd(), name, UnlinkatFlags::RemoveDir)
        }
        Some(_) => unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir),
    }
}

/// Sets an extended attribute on `name` in `dir` without following a
/// symlink at `name` (there is no `lsetxattrat`, so this goes through the
/// directory's /proc/self/fd entry, which names exactly `dir`).
pub fn set_xattr_at(dir: &impl AsFd, name: &OsStr, key: &str, value: &[u8]) -> std::io::Result<()> {
    let mut path = format!("/proc/self/fd/{}/", dir.as_fd().as_raw_fd()).into_bytes();
    path.extend_from_slice(name.as_bytes());
    let path =
        CString::new(path).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let key =
        CString::new(key).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: both strings are valid NUL-terminated C strings and the value
    // pointer/length describe a live slice for the duration of the call.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_rejects() {
        let c = |s: &str| {
            clean_components(s.as_bytes()).map(|v| {
                v.iter()
                    .map(|x| x.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(c("./a/b/").unwrap(), ["a", "b"]);
        assert_eq!(c("/a//./b").unwrap(), ["a", "b"]);
        assert_eq!(c("a/../b").unwrap(), ["b"]);
        assert!(c("../etc/passwd").is_none());
        assert!(c("a/../../x").is_none());
        assert!(c("./").unwrap().is_empty());
    }

    #[test]
    fn symlinks_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root_dir = tmp.path().join("root");
        std::fs::create_dir(&root_dir).unwrap();
        std::os::unix::fs::symlink("/", root_dir.join("up")).unwrap();
        std::os::unix::fs::symlink("../../../..", root_dir.join("rel")).unwrap();
        let root = Root::open(&root_dir).unwrap();
        let comps = clean_components(b"up/evil").unwrap();
        root.dir(&comps).unwrap();
        let comps = clean_components(b"rel/evil2").unwrap();
        root.dir(&comps).unwrap();
        // Both landed inside the root, none outside.
        assert!(root_dir.join("evil").is_dir());
        assert!(root_dir.join("evil2").is_dir());
        assert!(!tmp.path().join("evil2").exists());
    }
}
