//! Resolving paths inside the container's root filesystem without ever
//! leaving it. The rootfs is hostile: any component may be a symlink to
//! "/etc" or "../../..". openat2(RESOLVE_IN_ROOT) makes the kernel resolve
//! such links as if the rootfs were "/", atomically, so a mount target,
//! device node or masked path can never land on the host.
//!
//! The fds returned are O_PATH; mount(2) then uses /proc/self/fd/N as the
//! target, which names exactly the inode that was resolved.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

/// Resolve `path` (absolute or relative, both taken inside root) under the
/// root directory fd. `flags` are open(2) flags (O_PATH etc.).
pub fn open_in_root(root: BorrowedFd, path: &Path, flags: i32, mode: u32) -> nix::Result<OwnedFd> {
    let rel = relative(path);
    let c = CString::new(rel.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    // libc's open_how is non-exhaustive; the kernel ABI is these 3 u64s.
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: if flags & libc::O_CREAT != 0 {
            mode as u64
        } else {
            0
        },
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: valid fd, NUL-terminated path and a properly sized open_how.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new fd that we now own.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        match Errno::last() {
            // openat2 returns EAGAIN when a rename raced with resolution.
            Errno::EAGAIN | Errno::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// "/a/../b/./c" -> "b/c"-like relative form ("." for the root itself).
/// ".." is kept: RESOLVE_IN_ROOT clamps it at the root.
pub fn relative(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => out.push(".."),
            Component::Normal(n) => out.push(n),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// "/proc/self/fd/N" for an fd, to name a resolved inode in mount(2).
pub fn fd_path(fd: BorrowedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// What to create at the end of the path when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Resolve `path` inside root, creating missing directories (mode 0755)
/// and, for `Kind::File`, an empty final file. Returns an O_PATH fd.
///
/// Every component is created in a directory fd resolved from the root
/// (so a symlink anywhere stays inside it); the search for the deepest
/// existing ancestor starts at the parent, as usually only the last
/// component is missing.
pub fn create_in_root(root: BorrowedFd, path: &Path, kind: Kind) -> nix::Result<OwnedFd> {
    match open_in_root(root, path, libc::O_PATH, 0) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let rel = relative(path);
    let comps: Vec<_> = rel.components().collect();
    let prefix = |n: usize| -> PathBuf { comps[..n].iter().collect() };
    // The deepest ancestor that exists: comps[..existing].
    let mut existing = comps.len().saturating_sub(1);
    let mut parent = loop {
        match open_in_root(root, &prefix(existing), libc::O_PATH | libc::O_DIRECTORY, 0) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT) if existing > 0 => existing -= 1,
            Err(e) => return Err(e),
        }
    };
    for i in existing..comps.len() {
        let name =
            CString::new(comps[i].as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
        let last = i + 1 == comps.len();
        let r = if last && kind == Kind::File {
            // SAFETY: parent is a valid directory fd and name a C string.
            let fd = unsafe {
                libc::openat(
                    parent.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if fd >= 0 {
                // SAFETY: fd was just returned to us.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                0
            } else {
                -1
            }
        } else {
            // SAFETY: as above.
            unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) }
        };
        if r != 0 {
            match Errno::last() {
                // Someone (or a dangling symlink) is there: resolve again below.
                Errno::EEXIST => {}
                e => return Err(e),
            }
        }
        if !last {
            parent = open_in_root(root, &prefix(i + 1), libc::O_PATH | libc::O_DIRECTORY, 0)?;
        }
    }
    // A dangling symlink component makes this fail with ENOENT: it is not
    // followed out of the root, and not silently replaced.
    open_in_root(root, path, libc::O_PATH, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn root() -> (tempfile::TempDir, OwnedFd) {
        let dir = tempfile::tempdir().expect("tmp");
        let fd = std::fs::File::open(dir.path()).expect("open").into();
        (dir, fd)
    }

    fn real_path(fd: BorrowedFd) -> PathBuf {
        std::fs::read_link(fd_path(fd)).expect("readlink")
    }

    #[test]
    fn symlinks_cannot_escape() {
        let (dir, fd) = root();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc-link")).expect("link");
        std::os::unix::fs::symlink("../../../..", dir.path().join("up")).expect("link");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        let got =
            open_in_root(fd.as_fd(), Path::new("/etc-link"), libc::O_PATH, 0).expect("resolve");
        assert_eq!(real_path(got.as_fd()), dir.path().join("etc"));
        let got = open_in_root(fd.as_fd(), Path::new("up"), libc::O_PATH, 0).expect("resolve");
        assert_eq!(real_path(got.as_fd()), dir.path());
    }

    #[test]
    fn creates_missing_dirs_and_files_inside() {
        let (dir, fd) = root();
        std::os::unix::fs::symlink("/", dir.path().join("abs")).expect("link");
        let d = create_in_root(fd.as_fd(), Path::new("/abs/x/y"), Kind::Dir).expect("mkdir -p");
        assert_eq!(real_path(d.as_fd()), dir.path().join("x/y"));
        let f = create_in_root(fd.as_fd(), Path::new("/abs/x/file"), Kind::File).expect("file");
        assert_eq!(real_path(f.as_fd()), dir.path().join("x/file"));
        assert!(dir.path().join("x/file").is_file());
    }

    #[test]
    fn dangling_link_on_the_way_is_not_replaced() {
        let (dir, fd) = root();
        std::os::unix::fs::symlink("nowhere", dir.path().join("dangling")).expect("link");
        let err = create_in_root(fd.as_fd(), Path::new("/dangling/x"), Kind::Dir)
            .expect_err("a dangling link is not a directory");
        assert_eq!(err, Errno::ENOENT);
        assert!(!dir.path().join("nowhere").exists());
        let up = create_in_root(fd.as_fd(), Path::new("/a/../b/c"), Kind::Dir).expect("mkdir -p");
        assert_eq!(real_path(up.as_fd()), dir.path().join("b/c"));
    }

    #[test]
    fn relative_forms() {
        assert_eq!(relative(Path::new("/")), PathBuf::from("."));
        assert_eq!(relative(Path::new("/a/./b")), PathBuf::from("a/b"));
        assert_eq!(relative(Path::new("a/../b")), PathBuf::from("a/../b"));
    }
}
