//! Device nodes in the container's /dev: the defaults every container gets
//! plus linux.devices, and the /dev symlinks.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::paths::{self, Kind};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub path: PathBuf,
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: u32,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices runc creates in every container.
pub fn defaults() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(n, ma, mi)| DeviceNode {
        path: PathBuf::from("/dev").join(n),
        kind: libc::S_IFCHR,
        major: ma,
        minor: mi,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

pub fn from_spec(d: &LinuxDevice) -> Result<DeviceNode> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::config(
                d.path(),
                "device type \"a\" is only valid in cgroup rules",
            ))
        }
    };
    if !d.path().is_absolute() || !d.path().starts_with("/dev") {
        return Err(Error::config(
            d.path(),
            format!("device path {} must be below /dev", d.path().display()),
        ));
    }
    Ok(DeviceNode {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Defaults not overridden by linux.devices, then linux.devices.
pub fn plan(spec_devices: &[LinuxDevice]) -> Result<Vec<DeviceNode>> {
    let mut out: Vec<DeviceNode> = Vec::new();
    let custom = spec_devices
        .iter()
        .map(from_spec)
        .collect::<Result<Vec<_>>>()?;
    for d in defaults() {
        if !custom.iter().any(|c| c.path == d.path) {
            out.push(d);
        }
    }
    out.extend(custom);
    Ok(out)
}

/// Create the device nodes inside root, opening each parent directory once
/// (they are all in /dev, usually).
pub fn create_all(root: BorrowedFd, nodes: &[DeviceNode], in_userns: bool) -> Result<()> {
    let mut parent: Option<(&Path, OwnedFd)> = None;
    for d in nodes {
        if in_userns {
            bind_host_node(root, d)?;
            continue;
        }
        let parent_path = d.path.parent().unwrap_or(Path::new("/"));
        let dir = match parent.take() {
            Some((p, fd)) if p == parent_path => fd,
            _ => open_parent(root, d, parent_path)?,
        };
        create(dir.as_fd(), d)?;
        parent = Some((parent_path, dir));
    }
    Ok(())
}

fn ctx<'a>(d: &'a DeviceNode, what: &'static str) -> impl Fn(Errno) -> Error + 'a {
    move |e: Errno| Error::sys(format!("{what} {}", d.path.display()), e)
}

/// In a user namespace mknod is not allowed: bind-mount the host's node
/// instead, as runc does.
fn bind_host_node(root: BorrowedFd, d: &DeviceNode) -> Result<()> {
    let target = paths::create_in_root(root, &d.path, Kind::File)
        .map_err(ctx(d, "create bind target for device"))?;
    let t = paths::fd_path(target.as_fd());
    mount(
        Some(d.path.as_path()),
        t.as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(ctx(d, "bind host device onto"))
}

/// The parent directory of `d`, made if missing: an O_PATH fd resolved
/// inside the root (something that is not a directory there makes the
/// mknod fail with ENOTDIR).
fn open_parent(root: BorrowedFd, d: &DeviceNode, parent_path: &Path) -> Result<OwnedFd> {
    paths::create_in_root(root, parent_path, Kind::Dir).map_err(ctx(d, "create parent of device"))
}

/// Create one device node in `dir`, its parent directory inside the root.
fn create(dir: BorrowedFd, d: &DeviceNode) -> Result<()> {
    let name = d
        .path
        .file_name()
        .ok_or_else(|| Error::config(&d.path, "device path has no file name"))?;
    let cname = CString::new(name.as_encoded_bytes())
        .map_err(|_| Error::config(&d.path, "device path has a NUL byte"))?;
    let dev = libc::makedev(d.major as u32, d.minor as u32);
    for attempt in 0..2 {
        // SAFETY: valid dir fd and C string.
        let r = unsafe { libc::mknodat(dir.as_raw_fd(), cname.as_ptr(), d.kind | d.mode, dev) };
        if r == 0 {
            break;
        }
        match Errno::last() {
            // Something is already there (the rootfs shipped a /dev): replace
            // it unless it is already the right node.
            Errno::EEXIST if attempt == 0 => {
                let st = nix::sys::stat::fstatat(
                    dir,
                    cname.as_c_str(),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(ctx(d, "stat existing"))?;
                if st.st_mode & libc::S_IFMT == d.kind && st.st_rdev == dev {
                    break;
                }
                // SAFETY: valid dir fd and C string; flags 0 removes a non-directory.
                if unsafe { libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), 0) } != 0 {
                    return Err(ctx(d, "remove existing")(Errno::last()));
                }
            }
            e => return Err(ctx(d, "mknod")(e)),
        }
    }
    // mknod's mode is filtered by the umask; set it exactly.
    chmod_nofollow(dir, &cname, d.mode).map_err(ctx(d, "chmod"))?;
    nix::unistd::fchownat(
        dir,
        cname.as_c_str(),
        Some(nix::unistd::Uid::from_raw(d.uid)),
        Some(nix::unistd::Gid::from_raw(d.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(ctx(d, "chown"))?;
    Ok(())
}

/// chmod without following a symlink: one fchmodat2 call (Linux 6.6), else
/// the libc emulation (an O_PATH open and a chmod through /proc/self/fd).
fn chmod_nofollow(dir: BorrowedFd, name: &CString, mode: u32) -> std::result::Result<(), Errno> {
    // SAFETY: valid dir fd and C string, integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            dir.as_raw_fd(),
            name.as_ptr(),
            mode & 0o7777,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::ENOSYS => {}
        // A symlink: nothing to set (as the emulation answers).
        Errno::EOPNOTSUPP => return Ok(()),
        e => return Err(e),
    }
    nix::sys::stat::fchmodat(
        dir,
        name.as_c_str(),
        nix::sys::stat::Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    )
    .or_else(|e| {
        if e == Errno::EOPNOTSUPP {
            Ok(())
        } else {
            Err(e)
        }
    })
}

/// /dev/fd, stdin, stdout, stderr (and core where /proc/kcore exists), and
/// ptmx pointing into the container's devpts.
pub fn symlinks(root: BorrowedFd, with_ptmx: bool) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    if with_ptmx {
        links.push(("pts/ptmx", "ptmx"));
    }
    // An O_PATH fd of a directory serves as the dirfd of the *at calls.
    let dev = paths::create_in_root(root, Path::new("/dev"), Kind::Dir)
        .map_err(|e| Error::sys("create /dev", e))?;
    for (target, name) in links {
        if name == "ptmx" {
            // An existing /dev/ptmx node is replaced by the link into devpts.
            let _ =
                nix::unistd::unlinkat(dev.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("symlink /dev/{name}"), e)),
        }
    }
    Ok(())
}

/// The device cgroup rules to apply: the spec's rules, then what every
/// container needs (runc's defaults: mknod of any node, the default
/// devices, /dev/console, /dev/pts/*, /dev/ptmx, /dev/net/tun), then the
/// nodes listed in linux.devices. Only added when the spec has device
/// rules at all; otherwise the cgroup is left as it is.
pub fn cgroup_rules(
    spec_rules: &[oci_spec::runtime::LinuxDeviceCgroup],
    nodes: &[DeviceNode],
) -> Vec<oci_spec::runtime::LinuxDeviceCgroup> {
    use oci_spec::runtime::LinuxDeviceCgroup;
    let rule = |t: LinuxDeviceType,
                major: Option<i64>,
                minor: Option<i64>,
                access: &str|
     -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true)
            .set_typ(Some(t))
            .set_major(major)
            .set_minor(minor)
            .set_access(Some(access.to_string()));
        r
    };
    let mut out = spec_rules.to_vec();
    if out.is_empty() {
        return out;
    }
    out.push(rule(LinuxDeviceType::C, None, None, "m"));
    out.push(rule(LinuxDeviceType::B, None, None, "m"));
    for (ma, mi) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        out.push(rule(LinuxDeviceType::C, Some(ma), Some(mi), "rwm"));
    }
    out.push(rule(LinuxDeviceType::C, Some(136), None, "rwm"));
    for n in nodes {
        if n.kind == libc::S_IFIFO {
            continue;
        }
        let t = if n.kind == libc::S_IFBLK {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        };
        out.push(rule(t, Some(n.major as i64), Some(n.minor as i64), "rwm"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_devices_override_defaults() {
        let devs: Vec<LinuxDevice> = serde_json::from_value(serde_json::json!([
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438},
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "uid": 1, "gid": 2}
        ]))
        .expect("devices");
        let p = plan(&devs).expect("plan");
        assert_eq!(
            p.iter()
                .filter(|d| d.path == Path::new("/dev/null"))
                .count(),
            1
        );
        assert!(p.iter().any(|d| d.path == Path::new("/dev/fuse")
            && d.uid == 1
            && d.gid == 2
            && d.minor == 229));
        assert_eq!(p.len(), 7);
        let bad: Vec<LinuxDevice> = serde_json::from_value(
            serde_json::json!([{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}]),
        )
        .expect("d");
        assert!(plan(&bad).is_err());
    }
}
