//! Performing one config.json mount inside the root, safely.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::options::{self, attr, MountOptions};
use super::paths::{self, Kind};
use crate::error::{Error, Result};

/// A mount from config.json, with its options parsed before the fork.
#[derive(Debug, Clone)]
pub struct PlannedMount {
    pub destination: PathBuf,
    pub typ: String,
    /// Bind sources are host paths, made absolute against the bundle.
    pub source: Option<PathBuf>,
    pub options: MountOptions,
    /// For idmap/ridmap: a user namespace carrying the mount's id mappings,
    /// made by the parent before the clone.
    pub idmap_userns: Option<std::sync::Arc<OwnedFd>>,
}

/// A v1 controller hierarchy of the host: directory name and the mount
/// option that selects it ("cpu", "name=systemd").
#[derive(Debug, Clone)]
pub struct CgroupHierarchy {
    pub name: String,
    pub option: String,
    pub host_mountpoint: PathBuf,
    /// The container's directory in this hierarchy (bound into it).
    pub source: PathBuf,
}

impl PlannedMount {
    pub fn from_spec(m: &oci_spec::runtime::Mount, bundle: &Path) -> PlannedMount {
        let typ = m.typ().clone().unwrap_or_default();
        let options = options::parse(m.options().as_deref().unwrap_or(&[]));
        let mut options = options;
        if typ == "bind" {
            // type "bind" without a bind option still means a bind mount.
            options.flags |= MsFlags::MS_BIND;
        }
        let source = m.source().as_ref().map(|s| {
            if options.is_bind() && s.is_relative() {
                bundle.join(s)
            } else {
                s.clone()
            }
        });
        let dest = m.destination();
        let destination = if dest.is_absolute() {
            dest.clone()
        } else {
            Path::new("/").join(dest)
        };
        PlannedMount {
            destination,
            typ,
            source,
            options,
            idmap_userns: None,
        }
    }

    /// Must the init be in its cgroup (v1: which the parent may still be
    /// making) before this mount?
    /// - cgroup/cgroup2: /sys/fs/cgroup binds the container's own cgroup
    ///   directories;
    /// - a bind whose source does not exist (yet): it may be in the
    ///   container's cgroup, or lead there through a symlink; a source that
    ///   exists needs nothing from the cgroup step (a bind of a parent
    ///   cgroup shows the container's directory once it is made);
    /// - any other mount with a path as its source: a filesystem on a block
    ///   device, whose open the devices cgroup checks.
    ///
    /// Run in the init before the mount, so it sees the host's paths.
    pub fn needs_cgroup(&self) -> bool {
        if self.typ == "cgroup" || self.typ == "cgroup2" {
            return true;
        }
        match &self.source {
            Some(src) if self.options.is_bind() => !src.exists(),
            Some(src) => src.is_absolute(),
            None => false,
        }
    }
}

fn errno_ctx<'a>(what: &str, m: &'a PlannedMount) -> impl Fn(nix::errno::Errno) -> Error + 'a {
    let what = what.to_string();
    move |e| Error::sys(format!("{what} {}", m.destination.display()), e)
}

/// Flags a bind remount must keep: in a user namespace the kernel refuses
/// to drop nosuid/nodev/noexec/atime flags that are locked on the source.
pub fn locked_flags(target: &str) -> MsFlags {
    match nix::sys::statvfs::statvfs(target) {
        Ok(st) => {
            use nix::sys::statvfs::FsFlags as S;
            let f = st.flags();
            let mut m = MsFlags::empty();
            for (s, ms) in [
                (S::ST_NOSUID, MsFlags::MS_NOSUID),
                (S::ST_NODEV, MsFlags::MS_NODEV),
                (S::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (S::ST_NOATIME, MsFlags::MS_NOATIME),
                (S::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (S::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if f.contains(s) {
                    m |= ms;
                }
            }
            m
        }
        Err(_) => MsFlags::empty(),
    }
}

/// Mount flags that only make sense on the first mount, not on a remount.
fn remount_flags(flags: MsFlags) -> MsFlags {
    flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
}

/// struct mount_attr of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount `fd` names (AT_EMPTY_PATH), recursively
/// when asked.
fn mount_setattr(fd: i32, recursive: bool, attr: &MountAttr) -> nix::Result<()> {
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: valid fd, empty C path with AT_EMPTY_PATH, properly sized struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags as libc::c_uint,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Set and clear mount attributes (MOUNT_ATTR_*) on the mount `fd` names.
pub fn setattr(fd: i32, set: u64, clear: u64, recursive: bool) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    mount_setattr(fd, recursive, &attr)
}

/// Apply recursive attributes with mount_setattr(2).
pub fn setattr_recursive(fd: BorrowedFd, set: u64, clear: u64) -> nix::Result<()> {
    setattr(fd.as_raw_fd(), set, clear, true)
}

/// Mount `m` inside the root opened as `root`.
pub fn do_mount(
    root: BorrowedFd,
    m: &PlannedMount,
    cgroups: &[CgroupHierarchy],
    label: Option<&str>,
) -> Result<()> {
    if m.typ == "cgroup" || m.typ == "cgroup2" {
        return mount_cgroup(root, m, cgroups);
    }
    let o = &m.options;
    let target_kind = if o.is_bind() {
        let src = m
            .source
            .as_deref()
            .ok_or_else(|| Error::config(&m.destination, "bind mount without a source"))?;
        let meta = std::fs::metadata(src).map_err(|e| Error::io(src, e))?;
        if meta.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        }
    } else {
        Kind::Dir
    };
    let target_fd = paths::create_in_root(root, &m.destination, target_kind)
        .map_err(errno_ctx("create mount target", m))?;
    let target = paths::fd_path(target_fd.as_fd());

    if o.is_bind() {
        let src = m.source.as_deref().unwrap_or(Path::new(""));
        let bound = match (o.idmap, &m.idmap_userns) {
            (Some(recursive), Some(userns)) => idmapped_bind(
                src,
                target_fd.as_fd(),
                recursive || o.flags.contains(MsFlags::MS_REC),
                recursive,
                userns,
            ),
            _ => mount(
                Some(src),
                target.as_str(),
                None::<&str>,
                MsFlags::MS_BIND | (o.flags & MsFlags::MS_REC),
                None::<&str>,
            ),
        };
        bound.map_err(|e| {
            let what = if o.idmap.is_some() {
                "id-mapped bind mount"
            } else {
                "bind mount"
            };
            Error::sys(
                format!("{what} {} on {}", src.display(), m.destination.display()),
                e,
            )
        })?;
        if remount_flags(o.flags).is_empty() && !needs_finish(m) {
            return Ok(());
        }
        // The bind itself ignores other flags: apply them with a remount of
        // the new mount, addressed through a fresh fd of it.
        let fresh = paths::open_in_root(root, &m.destination, libc::O_PATH, 0)
            .map_err(errno_ctx("reopen", m))?;
        let fresh_path = paths::fd_path(fresh.as_fd());
        if !remount_flags(o.flags).is_empty() {
            let flags = MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | remount_flags(o.flags)
                | locked_flags(&fresh_path);
            mount(
                None::<&str>,
                fresh_path.as_str(),
                None::<&str>,
                flags,
                None::<&str>,
            )
            .map_err(errno_ctx("remount", m))?;
        }
        finish(&fresh, m)?;
        return Ok(());
    }

    let source = m
        .source
        .as_deref()
        .map(|p| p.as_os_str())
        .unwrap_or(m.typ.as_ref());
    let mut data = o.data.clone();
    if let Some(l) = label {
        if matches!(m.typ.as_str(), "tmpfs" | "devpts" | "mqueue" | "shm") {
            if !data.is_empty() {
                data.push(',');
            }
            data.push_str(&format!("context=\"{l}\""));
        }
    }
    let data = (!data.is_empty()).then_some(data.as_str());
    let r = mount(
        Some(source),
        target.as_str(),
        Some(m.typ.as_str()),
        o.flags & !MsFlags::MS_REMOUNT,
        data,
    );
    match r {
        Ok(()) => {}
        // sysfs cannot be mounted in a user namespace without its own
        // network namespace: bind the host's /sys instead, as runc does.
        Err(nix::errno::Errno::EPERM) if m.typ == "sysfs" => {
            bind_remount(
                root,
                Path::new("/sys"),
                &m.destination,
                remount_flags(o.flags),
            )
            .map_err(errno_ctx("bind /sys on", m))?;
        }
        Err(e) => {
            return Err(Error::sys(
                format!(
                    "mount {} ({}) on {}",
                    source.to_string_lossy(),
                    m.typ,
                    m.destination.display()
                ),
                e,
            ))
        }
    }
    if !needs_finish(m) {
        return Ok(());
    }
    let fresh = paths::open_in_root(root, &m.destination, libc::O_PATH, 0)
        .map_err(errno_ctx("reopen", m))?;
    finish(&fresh, m)
}

/// Whether [`finish`] has anything to do for `m` (else the new mount need
/// not be reopened).
fn needs_finish(m: &PlannedMount) -> bool {
    !m.options.propagation.is_empty() || m.options.rec_set != 0 || m.options.rec_clear != 0
}

/// Propagation changes and recursive attributes, after the mount exists.
fn finish(fresh: &OwnedFd, m: &PlannedMount) -> Result<()> {
    let path = paths::fd_path(fresh.as_fd());
    for p in &m.options.propagation {
        mount(None::<&str>, path.as_str(), None::<&str>, *p, None::<&str>)
            .map_err(errno_ctx("set propagation of", m))?;
    }
    if m.options.rec_set != 0 || m.options.rec_clear != 0 {
        setattr_recursive(fresh.as_fd(), m.options.rec_set, m.options.rec_clear)
            .map_err(errno_ctx("mount_setattr", m))?;
    }
    Ok(())
}

/// An id-mapped bind: clone the source tree (open_tree), attach the user
/// namespace's mappings to it (mount_setattr MOUNT_ATTR_IDMAP) and move it
/// onto the target. Files owned by host ids appear under the mapped ids.
fn idmapped_bind(
    src: &Path,
    target: BorrowedFd,
    clone_recursive: bool,
    idmap_recursive: bool,
    userns: &OwnedFd,
) -> nix::Result<()> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    let csrc =
        CString::new(src.as_os_str().as_encoded_bytes()).map_err(|_| nix::errno::Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if clone_recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree with a valid C string; the fd is checked.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, csrc.as_ptr(), flags) };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: a new fd we own.
    let tree = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let idmap = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    mount_setattr(tree.as_raw_fd(), idmap_recursive, &idmap)?;
    // SAFETY: move_mount between two fds with empty paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r != 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// /sys/fs/cgroup. Every hierarchy is a bind of the container's own
/// cgroup directory, never a fresh cgroup mount: it shows exactly what a
/// mount inside the container's cgroup namespace would (the subtree rooted
/// at its cgroup), works in a user namespace, and costs a bind instead of
/// the ~10 ms a cgroup2 superblock mount takes. On v1 the binds sit on a
/// tmpfs, one directory per hierarchy (plus "unified" on a hybrid host).
fn mount_cgroup(root: BorrowedFd, m: &PlannedMount, hierarchies: &[CgroupHierarchy]) -> Result<()> {
    let flags = m.options.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if let [only] = hierarchies {
        if only.option.is_empty() {
            // Pure v2: the one hierarchy is /sys/fs/cgroup itself.
            return bind_remount(root, &only.source, &m.destination, flags)
                .map_err(errno_ctx("bind cgroup2 on", m));
        }
    }
    let target_fd = paths::create_in_root(root, &m.destination, Kind::Dir)
        .map_err(errno_ctx("create mount target", m))?;
    let target = paths::fd_path(target_fd.as_fd());
    // The tmpfs stays writable until its children are mounted.
    mount(
        Some("tmpfs"),
        target.as_str(),
        Some("tmpfs"),
        flags & !MsFlags::MS_RDONLY,
        Some("mode=755"),
    )
    .map_err(errno_ctx("mount tmpfs for cgroups on", m))?;
    // A fresh tmpfs of ours: nothing in it can be a link the container
    // planted, so its directories are made and opened relative to it.
    let tmpfs = paths::open_in_root(root, &m.destination, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(errno_ctx("reopen", m))?;
    for h in hierarchies {
        let dest = m.destination.join(&h.name);
        bind_in_fresh_dir(tmpfs.as_fd(), &h.source, &h.name).map_err(|e| {
            Error::sys(
                format!("bind {} on {}", h.source.display(), dest.display()),
                e,
            )
        })?;
    }
    // One recursive mount_setattr for the tmpfs and every bind on it, instead
    // of a remount each. It only sets attributes (ro, nosuid, nodev, noexec),
    // so it never runs into flags locked on the host's mounts. atime flags
    // are left as they are: they mean nothing on cgroupfs.
    let set = [
        (MsFlags::MS_RDONLY, attr::RDONLY),
        (MsFlags::MS_NOSUID, attr::NOSUID),
        (MsFlags::MS_NODEV, attr::NODEV),
        (MsFlags::MS_NOEXEC, attr::NOEXEC),
    ]
    .iter()
    .filter(|(ms, _)| flags.contains(*ms))
    .fold(0, |acc, (_, a)| acc | a);
    if set != 0 {
        setattr_recursive(tmpfs.as_fd(), set, 0).map_err(errno_ctx("mount_setattr", m))?;
    }
    Ok(())
}

/// Make directory `name` in the fresh tmpfs `dir` and bind `source` (with
/// its submounts) on it.
fn bind_in_fresh_dir(dir: BorrowedFd, source: &Path, name: &str) -> nix::Result<()> {
    nix::sys::stat::mkdirat(dir, name, nix::sys::stat::Mode::from_bits_truncate(0o755))?;
    let fd = nix::fcntl::openat(
        dir,
        name,
        nix::fcntl::OFlag::O_PATH
            | nix::fcntl::OFlag::O_DIRECTORY
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    mount(
        Some(source),
        paths::fd_path(fd.as_fd()).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
}

/// Bind `source` onto `dest` (inside root), then remount the new mount
/// with `flags`, addressed through a fresh fd of it (the old fd still
/// names the directory underneath).
fn bind_remount(root: BorrowedFd, source: &Path, dest: &Path, flags: MsFlags) -> nix::Result<()> {
    let fd = paths::create_in_root(root, dest, Kind::Dir)?;
    let target = paths::fd_path(fd.as_fd());
    mount(
        Some(source),
        target.as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    let fresh = paths::open_in_root(root, dest, libc::O_PATH, 0)?;
    let fp = paths::fd_path(fresh.as_fd());
    let f = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked_flags(&fp);
    mount(None::<&str>, fp.as_str(), None::<&str>, f, None::<&str>)
}

/// Each hierarchy's directory of the container: its own cgroup where the
/// runtime made one, else the caller's (which the init inherits).
pub fn container_cgroup_dirs(
    hierarchies: &mut [CgroupHierarchy],
    cgroup: Option<&onggi_cgroups::Cgroup>,
    own: &str,
) {
    for h in hierarchies.iter_mut() {
        let managed = cgroup.and_then(|c| {
            c.paths()
                .into_iter()
                .find(|(ctrl, _)| *ctrl == h.option)
                .map(|(_, p)| p.to_path_buf())
        });
        h.source = match managed {
            Some(p) => p,
            None => {
                let rel = own.lines().find_map(|l| {
                    let mut parts = l.splitn(3, ':');
                    let (_, ctrl, path) = (parts.next()?, parts.next()?, parts.next()?);
                    (ctrl == h.option).then(|| path.trim_start_matches('/').to_string())
                });
                h.host_mountpoint.join(rel.unwrap_or_default())
            }
        };
    }
}

/// The host's cgroup hierarchies, from the text of /proc/self/mountinfo.
pub fn host_cgroup_hierarchies(info: &str) -> Vec<CgroupHierarchy> {
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let _src = post.next();
        let superopts = post.next().unwrap_or("");
        let Some(mountpoint) = pre.split(' ').nth(4) else {
            continue;
        };
        let mp = PathBuf::from(mountpoint);
        let name = mp
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match fstype {
            "cgroup" => {
                let opt = superopts
                    .split(',')
                    .filter(|o| {
                        !matches!(
                            *o,
                            "rw" | "ro"
                                | "relatime"
                                | "noatime"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "xattr"
                                | "clone_children"
                        ) && !o.starts_with("release_agent=")
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                out.push(CgroupHierarchy {
                    name,
                    option: opt,
                    host_mountpoint: mp,
                    source: PathBuf::new(),
                });
            }
            "cgroup2" => out.push(CgroupHierarchy {
                name,
                option: String::new(),
                host_mountpoint: mp,
                source: PathBuf::new(),
            }),
            _ => {}
        }
    }
    out
}
