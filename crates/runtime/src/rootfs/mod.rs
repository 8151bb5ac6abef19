//! From a bundle's rootfs directory to the container's "/": mounts in
//! config order, device nodes, pivot_root, then masked and read-only paths
//! and a read-only root. Runs in the container's init, in its new mount
//! namespace. The plan is computed by the parent before the clone.

pub mod devices;
pub mod mounts;
pub mod options;
pub mod paths;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Error, IoContext, Result, SysContext};
use devices::DeviceNode;
use mounts::{CgroupHierarchy, PlannedMount};

#[derive(Debug, Clone)]
pub struct RootfsPlan {
    pub rootfs: PathBuf,
    pub readonly: bool,
    /// rootfsPropagation, applied to the new "/" after pivot_root.
    pub propagation: Option<MsFlags>,
    pub mounts: Vec<PlannedMount>,
    pub devices: Vec<DeviceNode>,
    pub make_devices: bool,
    pub with_ptmx: bool,
    pub masked: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub no_pivot: bool,
    pub new_mount_ns: bool,
    pub in_userns: bool,
    pub cgroup_hierarchies: Vec<CgroupHierarchy>,
    pub mount_label: Option<String>,
}

/// What the /sys/fs/cgroup mount is made from: the container's cgroup (if
/// any) and the host's mountinfo and /proc/self/cgroup, read once by create.
#[derive(Clone, Copy)]
pub struct CgroupSources<'a> {
    pub cgroup: Option<&'a onggi_cgroups::Cgroup>,
    pub host: &'a onggi_cgroups::HostView,
}

impl RootfsPlan {
    pub fn from_spec(
        spec: &oci_spec::runtime::Spec,
        bundle: &Path,
        rootfs: &Path,
        no_pivot: bool,
        new_mount_ns: bool,
        in_userns: bool,
        cgroups: CgroupSources<'_>,
    ) -> Result<RootfsPlan> {
        let linux = spec.linux().as_ref();
        let mut mounts: Vec<PlannedMount> = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| PlannedMount::from_spec(m, bundle))
            .collect();
        idmap_namespaces(spec, &mut mounts)?;
        let dev_is_bind = mounts
            .iter()
            .any(|m| m.destination == Path::new("/dev") && m.options.is_bind());
        let with_ptmx = mounts
            .iter()
            .any(|m| m.destination == Path::new("/dev/pts") && m.typ == "devpts");
        let devices = devices::plan(linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]))?;
        let propagation = linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .filter(|p| !p.is_empty())
            .and_then(options::propagation_flag);
        let to_paths = |v: Option<&Vec<String>>| {
            v.into_iter()
                .flatten()
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        };
        let selinux = Path::new("/sys/fs/selinux/enforce").exists();
        Ok(RootfsPlan {
            rootfs: rootfs.to_path_buf(),
            readonly: spec
                .root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
            propagation,
            cgroup_hierarchies: if mounts
                .iter()
                .any(|m| m.typ == "cgroup" || m.typ == "cgroup2")
            {
                let mut h = mounts::host_cgroup_hierarchies(&cgroups.host.mountinfo);
                mounts::container_cgroup_dirs(&mut h, cgroups.cgroup, &cgroups.host.proc_cgroup);
                h
            } else {
                Vec::new()
            },
            mounts,
            devices,
            make_devices: !dev_is_bind,
            with_ptmx,
            masked: to_paths(linux.and_then(|l| l.masked_paths().as_ref())),
            readonly_paths: to_paths(linux.and_then(|l| l.readonly_paths().as_ref())),
            no_pivot,
            new_mount_ns,
            in_userns,
            // Labels only mean something where SELinux is enabled; like crun,
            // ignore them elsewhere instead of failing every mount.
            mount_label: linux
                .and_then(|l| l.mount_label().clone())
                .filter(|l| !l.is_empty() && selinux),
        })
    }
}

/// For idmap/ridmap mounts: a user namespace with the mount's mappings (or
/// the container's, when the mount has none), shared by mounts with the
/// same mappings. Made now, in the parent, because the init may be in a
/// user namespace that cannot create it.
fn idmap_namespaces(spec: &oci_spec::runtime::Spec, mounts: &mut [PlannedMount]) -> Result<()> {
    use std::sync::Arc;
    type Maps = (
        Vec<oci_spec::runtime::LinuxIdMapping>,
        Vec<oci_spec::runtime::LinuxIdMapping>,
    );
    let mut made: Vec<(Maps, Arc<OwnedFd>)> = Vec::new();
    let linux = spec.linux().as_ref();
    for (pm, m) in mounts.iter_mut().zip(spec.mounts().iter().flatten()) {
        if pm.options.idmap.is_none() {
            continue;
        }
        let bad = |msg: &str| {
            Error::config(
                &pm.destination,
                format!("mount {}: {msg}", pm.destination.display()),
            )
        };
        if !pm.options.is_bind() {
            return Err(bad("idmap and ridmap are only supported on bind mounts"));
        }
        let uid = m
            .uid_mappings()
            .clone()
            .or_else(|| linux.and_then(|l| l.uid_mappings().clone()))
            .unwrap_or_default();
        let gid = m
            .gid_mappings()
            .clone()
            .or_else(|| linux.and_then(|l| l.gid_mappings().clone()))
            .unwrap_or_default();
        if uid.is_empty() || gid.is_empty() {
            return Err(bad(
                "idmap needs uidMappings and gidMappings (on the mount or the container)",
            ));
        }
        let maps = (uid, gid);
        let fd = match made.iter().find(|(k, _)| *k == maps) {
            Some((_, fd)) => fd.clone(),
            None => {
                let fd = Arc::new(crate::init::namespaces::userns_with_maps(&maps.0, &maps.1)?);
                made.push((maps, fd.clone()));
                fd
            }
        };
        pm.idmap_userns = Some(fd);
    }
    Ok(())
}

/// Before pivot_root: isolate propagation, make the rootfs a mount point,
/// perform the mounts and create devices. Returns an fd of the root.
///
/// `in_cgroup` puts the init into its cgroup (on v1 it may wait for the
/// parent, which makes the cgroup meanwhile). It is called, at least once,
/// before the first step that depends on the cgroup: a mount that
/// [`PlannedMount::needs_cgroup`], else the device nodes (mknod is checked
/// against the devices cgroup). Mounts before that run while the parent
/// still works on the cgroup.
///
/// [`PlannedMount::needs_cgroup`]: mounts::PlannedMount::needs_cgroup
pub fn prepare(plan: &RootfsPlan, in_cgroup: &mut dyn FnMut() -> Result<()>) -> Result<OwnedFd> {
    if plan.new_mount_ns {
        // Our copy of the host's mounts is still in the host's peer groups:
        // make everything a slave (or private) first, so nothing we mount
        // propagates back to the host.
        let base = match plan.propagation {
            Some(p) if p.contains(MsFlags::MS_PRIVATE) => MsFlags::MS_PRIVATE,
            _ => MsFlags::MS_SLAVE,
        };
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            base | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| "make / a slave mount".into())?;
    }
    mount(
        Some(&plan.rootfs),
        &plan.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind mount rootfs {}", plan.rootfs.display()))?;
    if plan.new_mount_ns {
        // pivot_root refuses a new root whose mount is shared.
        mount(
            None::<&str>,
            &plan.rootfs,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .ctx(|| format!("make rootfs {} private", plan.rootfs.display()))?;
    }
    let root: OwnedFd = std::fs::File::open(&plan.rootfs).at(&plan.rootfs)?.into();
    let mut entered = false;
    for m in &plan.mounts {
        if !entered && m.needs_cgroup() {
            in_cgroup()?;
            entered = true;
        }
        mounts::do_mount(
            root.as_fd(),
            m,
            &plan.cgroup_hierarchies,
            plan.mount_label.as_deref(),
        )?;
    }
    if !entered {
        in_cgroup()?;
    }
    if plan.make_devices {
        devices::create_all(root.as_fd(), &plan.devices, plan.in_userns)?;
        devices::symlinks(root.as_fd(), plan.with_ptmx)?;
    }
    Ok(root)
}

/// Make the rootfs "/" (pivot_root, or MS_MOVE + chroot with --no-pivot or
/// without a mount namespace).
pub fn enter(plan: &RootfsPlan) -> Result<()> {
    nix::unistd::chdir(&plan.rootfs).ctx(|| format!("chdir {}", plan.rootfs.display()))?;
    if !plan.new_mount_ns {
        // Without a mount namespace, pivot_root would change the host's root.
        return nix::unistd::chroot(".")
            .ctx(|| "chroot".into())
            .and_then(|_| nix::unistd::chdir("/").ctx(|| "chdir /".into()));
    }
    if plan.no_pivot {
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .ctx(|| "move rootfs to /".into())?;
        nix::unistd::chroot(".").ctx(|| "chroot".into())?;
    } else {
        // pivot_root(".", ".") stacks the old root under the new one; it is
        // then detached without needing a directory for it in the rootfs.
        nix::unistd::pivot_root(".", ".")
            .ctx(|| format!("pivot_root to {}", plan.rootfs.display()))?;
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| "make old root a slave".into())?;
        umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root".into())?;
    }
    nix::unistd::chdir("/").ctx(|| "chdir /".into())?;
    if let Some(p) = plan.propagation {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            p | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| "set rootfsPropagation on /".into())?;
    }
    Ok(())
}

/// After pivot_root: masked paths, read-only paths, read-only root.
pub fn finish(plan: &RootfsPlan) -> Result<()> {
    let root: OwnedFd = std::fs::File::open("/").at("/")?.into();
    for p in &plan.readonly_paths {
        readonly_path(root.as_fd(), p)?;
    }
    if !plan.masked.is_empty() {
        let null = verified_dev_null(root.as_fd())?;
        for p in &plan.masked {
            mask_path(root.as_fd(), p, &null)?;
        }
    }
    if plan.readonly {
        let flags =
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | mounts::locked_flags("/");
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .ctx(|| "remount / read-only".into())?;
    }
    Ok(())
}

fn readonly_path(root: BorrowedFd, p: &Path) -> Result<()> {
    let fd = match paths::open_in_root(root, p, libc::O_PATH, 0) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(Error::sys(
                format!("open read-only path {}", p.display()),
                e,
            ))
        }
    };
    let path = paths::fd_path(fd.as_fd());
    mount(
        Some(path.as_str()),
        path.as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind read-only path {}", p.display()))?;
    let fresh =
        paths::open_in_root(root, p, libc::O_PATH, 0).ctx(|| format!("reopen {}", p.display()))?;
    let fp = paths::fd_path(fresh.as_fd());
    let flags =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | mounts::locked_flags(&fp);
    mount(None::<&str>, fp.as_str(), None::<&str>, flags, None::<&str>)
        .ctx(|| format!("remount {} read-only", p.display()))
}

/// /dev/null of the container, checked to be the real 1:3 character
/// device before it is bound over anything (CVE-2025-31133: a /dev/null
/// that is a symlink or a bind of a host file would unmask or expose it).
fn verified_dev_null(root: BorrowedFd) -> Result<OwnedFd> {
    let fd = paths::open_in_root(
        root,
        Path::new("/dev/null"),
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
    )
    .ctx(|| "open /dev/null for masking".into())?;
    let st = nix::sys::stat::fstat(fd.as_fd()).ctx(|| "stat /dev/null".into())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(Error::Unsupported("/dev/null in the container is not the null device (1:3); refusing to mask paths with it".into()));
    }
    Ok(fd)
}

fn mask_path(root: BorrowedFd, p: &Path, null: &OwnedFd) -> Result<()> {
    let fd = match paths::open_in_root(root, p, libc::O_PATH | libc::O_NOFOLLOW, 0) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys(format!("open masked path {}", p.display()), e)),
    };
    let target = paths::fd_path(fd.as_fd());
    let st =
        nix::sys::stat::fstat(fd.as_fd()).ctx(|| format!("stat masked path {}", p.display()))?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        mount(
            Some("tmpfs"),
            target.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .ctx(|| format!("mask directory {}", p.display()))
    } else {
        let src = paths::fd_path(null.as_fd());
        mount(
            Some(src.as_str()),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("mask {}", p.display()))
    }
}

/// Write namespaced sysctls through the container's /proc/sys, checking
/// the file really is on procfs (CVE-2025-52881: a bind or symlink could
/// redirect the write to another file).
pub fn write_sysctls(sysctls: &[(String, String)]) -> Result<()> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let root: OwnedFd = std::fs::File::open("/").at("/")?.into();
    for (key, value) in sysctls {
        let rel = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        let fd = paths::open_in_root(root.as_fd(), &rel, libc::O_WRONLY | libc::O_NOFOLLOW, 0)
            .ctx(|| format!("open sysctl {key}"))?;
        check_procfs(fd.as_fd(), &rel)?;
        nix::unistd::write(&fd, value.as_bytes()).ctx(|| format!("write sysctl {key}={value}"))?;
    }
    Ok(())
}

pub fn check_procfs(fd: BorrowedFd, path: &Path) -> Result<()> {
    let st = nix::sys::statfs::fstatfs(fd).ctx(|| format!("statfs {}", path.display()))?;
    if st.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(Error::Unsupported(format!(
            "{} is not on procfs",
            path.display()
        )));
    }
    Ok(())
}
