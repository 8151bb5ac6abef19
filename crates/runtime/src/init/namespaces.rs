//! Namespaces: which to create in the one clone, which to join by path,
//! and the uid/gid maps the parent writes for a new user namespace.
//!
//! Everything is decided in the parent before the clone. New namespaces
//! are created by the clone itself (one syscall) except:
//! - cgroup: unshared by the child *after* it entered its cgroup, so the
//!   namespace is rooted at the container's cgroup, not the runtime's;
//! - time: the parent unshares it and writes the offsets before cloning,
//!   because offsets can only be set while no task is inside;
//! - everything, when an existing user namespace is joined: new namespaces
//!   must then be owned by that user namespace, so the child unshares them
//!   after setns;
//! - mount, network, IPC and UTS, on cgroup v1 with a private mount
//!   namespace: the child unshares them, so their setup runs beside the
//!   parent's cgroup work ([`NamespacePlan::unshare_in_child`]).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespace, LinuxNamespaceType};

use crate::error::{Error, IoContext, Result};

pub fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// A namespace to join: its type and an open fd of its path.
#[derive(Debug)]
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

#[derive(Debug)]
pub struct NamespacePlan {
    /// Namespaces created by the clone.
    pub clone_flags: CloneFlags,
    /// Namespaces created by the child with unshare() after joining.
    pub unshare_flags: CloneFlags,
    /// Namespaces joined by the child, user first, mount last.
    pub joins: Vec<Join>,
    /// A pid namespace to join: the parent enters it "for children" right
    /// before the clone.
    pub pid_join: Option<Join>,
    /// A new time namespace with these offsets, unshared by the parent.
    pub new_time: Option<Vec<(String, i64, u32)>>,
    pub new_user: bool,
    pub new_mount: bool,
    pub new_pid: bool,
    pub new_cgroup: bool,
    pub new_net: bool,
    /// Is the container in any user namespace other than the runtime's?
    pub in_userns: bool,
}

impl NamespacePlan {
    pub fn from_spec(
        namespaces: &[LinuxNamespace],
        time_offsets: Option<
            &std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>,
        >,
    ) -> Result<NamespacePlan> {
        let mut plan = NamespacePlan {
            clone_flags: CloneFlags::empty(),
            unshare_flags: CloneFlags::empty(),
            joins: Vec::new(),
            pid_join: None,
            new_time: None,
            new_user: false,
            new_mount: false,
            new_pid: false,
            new_cgroup: false,
            new_net: false,
            in_userns: false,
        };
        let joins_user = namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        for ns in namespaces {
            let t = ns.typ();
            match ns.path() {
                Some(path) => {
                    let fd = open_ns(path, t)?;
                    let join = Join {
                        typ: t,
                        path: path.clone(),
                        fd,
                    };
                    if t == LinuxNamespaceType::Pid {
                        plan.pid_join = Some(join);
                    } else {
                        plan.joins.push(join);
                    }
                    if t == LinuxNamespaceType::User {
                        plan.in_userns = true;
                    }
                }
                None => {
                    match t {
                        LinuxNamespaceType::User => {
                            plan.new_user = true;
                            plan.in_userns = true;
                        }
                        LinuxNamespaceType::Mount => plan.new_mount = true,
                        LinuxNamespaceType::Pid => plan.new_pid = true,
                        LinuxNamespaceType::Network => plan.new_net = true,
                        _ => {}
                    }
                    if t == LinuxNamespaceType::Cgroup {
                        plan.new_cgroup = true;
                    } else if t == LinuxNamespaceType::Time {
                        let mut offs = Vec::new();
                        for (clock, o) in time_offsets.into_iter().flatten() {
                            offs.push((
                                clock.clone(),
                                o.secs().unwrap_or(0),
                                o.nanosecs().unwrap_or(0),
                            ));
                        }
                        plan.new_time = Some(offs);
                    } else if joins_user {
                        plan.unshare_flags |= clone_flag(t);
                    } else {
                        plan.clone_flags |= clone_flag(t);
                    }
                }
            }
        }
        if joins_user && plan.new_pid {
            return Err(Error::Unsupported(
                "joining an existing user namespace while creating a new pid namespace is not supported".into(),
            ));
        }
        // setns order: the user namespace first (it grants the privileges
        // for the others), the mount namespace last (it changes our root).
        plan.joins.sort_by_key(|j| match j.typ {
            LinuxNamespaceType::User => 0,
            LinuxNamespaceType::Mount => 2,
            _ => 1,
        });
        Ok(plan)
    }
}

impl NamespacePlan {
    /// The child unshares the new mount, network, IPC and UTS namespaces
    /// instead of the clone making them: their setup (~0.4 ms, the network
    /// namespace's loopback, sysctls and tables most of it) then runs in
    /// the child, beside the parent's cgroup work on cgroup v1, and the
    /// clone, which the parent waits for, makes only the pid (and user)
    /// namespace. They are the same namespaces: the child unshares them
    /// first thing, in the user namespace the clone made.
    pub fn unshare_in_child(&mut self) {
        let moved = self.clone_flags
            & (CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWUTS);
        self.clone_flags.remove(moved);
        self.unshare_flags.insert(moved);
    }
}

/// Open a namespace path and check it is a namespace of the expected type,
/// so a wrong path fails here with a clear message instead of at setns.
fn open_ns(path: &Path, t: LinuxNamespaceType) -> Result<OwnedFd> {
    let f = std::fs::File::open(path).at(path)?;
    let fd: OwnedFd = f.into();
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: ioctl on a valid fd with no argument.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if r < 0 {
        return Err(Error::config(
            path,
            format!("{} is not a namespace file", path.display()),
        ));
    }
    if r as i32 != clone_flag(t).bits() {
        return Err(Error::config(
            path,
            format!("namespace path {} is not a {t} namespace", path.display()),
        ));
    }
    Ok(fd)
}

/// Join one namespace (in the child).
pub fn join(j: &Join) -> Result<()> {
    nix::sched::setns(j.fd.as_fd(), clone_flag(j.typ))
        .map_err(|e| Error::sys(format!("join {} namespace {}", j.typ, j.path.display()), e))
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write uid_map and gid_map of the child (in the parent). As root we write
/// them directly; an unprivileged caller mapping only itself must deny
/// setgroups first, and larger maps go through newuidmap/newgidmap.
pub fn write_id_maps(
    pid: i32,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<()> {
    let euid = nix::unistd::geteuid();
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let privileged = euid.is_root();
    let single_self = |maps: &[LinuxIdMapping], id: u32| {
        maps.len() == 1 && maps[0].size() == 1 && maps[0].host_id() == id
    };
    if privileged
        || (single_self(uid_maps, euid.as_raw())
            && single_self(gid_maps, nix::unistd::getegid().as_raw()))
    {
        if !privileged {
            std::fs::write(proc.join("setgroups"), "deny").at(proc.join("setgroups"))?;
        }
        std::fs::write(proc.join("uid_map"), map_text(uid_maps)).at(proc.join("uid_map"))?;
        std::fs::write(proc.join("gid_map"), map_text(gid_maps)).at(proc.join("gid_map"))?;
        return Ok(());
    }
    for (tool, maps) in [("newuidmap", uid_maps), ("newgidmap", gid_maps)] {
        let mut cmd = std::process::Command::new(tool);
        cmd.arg(pid.to_string());
        for m in maps {
            cmd.args([
                m.container_id().to_string(),
                m.host_id().to_string(),
                m.size().to_string(),
            ]);
        }
        let out = cmd.output().map_err(|e| Error::io(tool, e))?;
        if !out.status.success() {
            return Err(Error::Unsupported(format!(
                "{tool} {pid}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// A user namespace with these mappings and no process left in it: a child
/// is cloned into a new user namespace, the maps are written, its
/// namespace is opened, and the child is reaped.
pub fn userns_with_maps(
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<OwnedFd> {
    let (rd, wr) =
        nix::unistd::pipe().map_err(|e| Error::sys("pipe for the id-map namespace", e))?;
    let child = crate::init::clone::fork_into(CloneFlags::CLONE_NEWUSER.bits() as u64, None)
        .map_err(|e| Error::sys("clone a user namespace for id-mapped mounts", e))?;
    let pid = match child {
        None => {
            // Child: wait until the parent has what it needs.
            drop(wr);
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(&rd, &mut b);
            // SAFETY: _exit is always safe.
            unsafe { libc::_exit(0) }
        }
        Some(pid) => pid,
    };
    drop(rd);
    let result = write_id_maps(pid.as_raw(), uid_maps, gid_maps).and_then(|_| {
        let p = format!("/proc/{pid}/ns/user");
        std::fs::File::open(&p)
            .map(OwnedFd::from)
            .map_err(|e| Error::io(p, e))
    });
    drop(wr);
    let _ = nix::sys::wait::waitpid(pid, None);
    result
}

/// Does this process share the user namespace of the host (pid 1)?
pub fn in_initial_userns() -> bool {
    match (
        std::fs::read_link("/proc/self/ns/user"),
        std::fs::read_link("/proc/1/ns/user"),
    ) {
        (Ok(a), Ok(b)) => a == b,
        // Cannot see pid 1's namespace: we are not in the initial one.
        _ => std::fs::read_to_string("/proc/self/uid_map")
            .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
            .unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(v: serde_json::Value) -> Vec<LinuxNamespace> {
        serde_json::from_value(v).expect("namespaces")
    }

    #[test]
    fn plan_new_namespaces() {
        let p = NamespacePlan::from_spec(
            &ns(serde_json::json!([{"type":"pid"},{"type":"mount"},{"type":"cgroup"},{"type":"user"},{"type":"network"}])),
            None,
        )
        .expect("plan");
        assert!(p.clone_flags.contains(
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUSER
        ));
        assert!(
            !p.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP),
            "cgroup ns is unshared late"
        );
        assert!(p.new_cgroup && p.new_user && p.in_userns);
        assert!(p.unshare_flags.is_empty());
    }

    #[test]
    fn the_child_unshares_all_but_pid_and_user() {
        let mut p = NamespacePlan::from_spec(
            &ns(serde_json::json!([{"type":"pid"},{"type":"mount"},{"type":"cgroup"},{"type":"user"},{"type":"network"},{"type":"ipc"},{"type":"uts"}])),
            None,
        )
        .expect("plan");
        p.unshare_in_child();
        assert_eq!(
            p.clone_flags,
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUSER
        );
        assert_eq!(
            p.unshare_flags,
            CloneFlags::CLONE_NEWNS
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWUTS
        );
        // Nothing asked for, nothing made.
        let mut p = NamespacePlan::from_spec(&ns(serde_json::json!([{"type":"mount"}])), None)
            .expect("plan");
        p.unshare_in_child();
        assert_eq!(p.unshare_flags, CloneFlags::CLONE_NEWNS);
        assert!(p.clone_flags.is_empty());
    }

    #[test]
    fn plan_joins_check_type() {
        let p = NamespacePlan::from_spec(
            &ns(serde_json::json!([{"type":"network","path":"/proc/self/ns/net"},{"type":"uts"}])),
            None,
        )
        .expect("plan");
        assert_eq!(p.joins.len(), 1);
        let e = NamespacePlan::from_spec(
            &ns(serde_json::json!([{"type":"ipc","path":"/proc/self/ns/net"}])),
            None,
        )
        .expect_err("wrong type");
        assert!(e.to_string().contains("not a ipc namespace"), "{e}");
        let e = NamespacePlan::from_spec(
            &ns(serde_json::json!([{"type":"ipc","path":"/nonexistent/ns"}])),
            None,
        )
        .expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/ns"), "{e}");
    }

    #[test]
    fn id_map_text() {
        let maps: Vec<LinuxIdMapping> =
            serde_json::from_value(serde_json::json!([{"containerID":0,"hostID":1000,"size":1},{"containerID":1,"hostID":100000,"size":65536}]))
                .expect("maps");
        assert_eq!(map_text(&maps), "0 1000 1\n1 100000 65536\n");
    }
}
