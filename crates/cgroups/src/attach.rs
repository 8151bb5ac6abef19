//! Handles that let a freshly cloned container init join its cgroup.
//!
//! On v2 they are opened before the clone (the clone needs the directory
//! fd). On v1 the runtime may open them after the clone and pass the
//! `tasks` fds to the init over a unix socket: [`AttachHandles::files`] on
//! the sending side, [`AttachHandles::from_files`] on the receiving one.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::{Cgroup, Version};

/// Files opened by the runtime (as root, in the host) before it clones the
/// container init, or after it and then passed to the init (v1). They stay
/// valid across the clone and in another process, and the kernel checks the
/// credentials of the opener, so the init can use them even after it entered
/// a user namespace (v1: an opener that is not root must still have the
/// writer's uid).
#[derive(Debug)]
pub struct AttachHandles {
    /// v1: each hierarchy's `tasks`; v2: `cgroup.procs` (fallback for when
    /// `CLONE_INTO_CGROUP` is not used).
    files: Vec<(&'static str, OwnedFd)>,
    /// v2: the cgroup directory, for clone3(CLONE_INTO_CGROUP).
    dir: Option<OwnedFd>,
}

impl AttachHandles {
    /// Move the calling thread into the cgroup. Meant for the single-threaded
    /// container init right after clone, before it does anything else.
    ///
    /// v1: writes "0" to each hierarchy's `tasks`. Moving one thread (`current`)
    /// does not take cgroup_threadgroup_rwsem for writing, so it does not wait
    /// for an RCU grace period as writing a pid to `cgroup.procs` does.
    ///
    /// v2: writes "0" to `cgroup.procs`. Only needed when the init was not
    /// created with clone3(CLONE_INTO_CGROUP, [`Self::clone_into_fd`]); with
    /// it, do not call this (it would take the threadgroup lock for nothing).
    ///
    /// Does not allocate. On failure returns the errno and the hierarchy
    /// ("memory", "cpu,cpuacct", "name=systemd", ... or "cgroup.procs" on v2).
    pub fn enter(&self) -> std::result::Result<(), (Errno, &'static str)> {
        for (name, fd) in &self.files {
            match nix::unistd::write(fd, b"0") {
                Ok(1) => {}
                Ok(_) => return Err((Errno::EIO, name)),
                Err(e) => return Err((e, name)),
            }
        }
        Ok(())
    }

    /// v2: the cgroup directory for clone3's `cgroup` field with
    /// `CLONE_INTO_CGROUP`. `None` on v1.
    pub fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        self.dir.as_ref().map(|f| f.as_fd())
    }

    /// The files [`Self::enter`] writes to, each with its hierarchy's name
    /// ("memory", "cpu,cpuacct", ...), in order: what another process needs
    /// to rebuild the handles with [`Self::from_files`].
    pub fn files(&self) -> impl Iterator<Item = (&'static str, BorrowedFd<'_>)> {
        self.files.iter().map(|(n, fd)| (*n, fd.as_fd()))
    }

    /// Handles over files received from the process that opened them (the
    /// pairs of [`Self::files`]); without the v2 directory fd, so only for
    /// [`Self::enter`]. A name this crate does not know is reported as
    /// "other hierarchy".
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, OwnedFd)>) -> AttachHandles {
        AttachHandles {
            files: files
                .into_iter()
                .map(|(name, fd)| (known_name(name), fd))
                .collect(),
            dir: None,
        }
    }
}

/// The hierarchy name as a `&'static str`, so `enter` can report it without
/// allocating.
fn static_name(controllers: &[String]) -> &'static str {
    known_name(&controllers.join(","))
}

fn known_name(joined: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "cpu",
        "cpuacct",
        "cpu,cpuacct",
        "cpuacct,cpu",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "hugetlb",
        "net_cls",
        "net_prio",
        "net_cls,net_prio",
        "net_prio,net_cls",
        "perf_event",
        "rdma",
        "misc",
        "name=systemd",
        "cgroup.procs",
    ];
    KNOWN
        .iter()
        .find(|k| **k == joined)
        .copied()
        .unwrap_or("other hierarchy")
}

fn open_write(path: &Path) -> Result<OwnedFd> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::Open {
            path: path.to_path_buf(),
            source: e,
        })
}

pub(crate) fn open(cg: &Cgroup) -> Result<AttachHandles> {
    match cg.version {
        Version::V1 => {
            let mut files = Vec::with_capacity(cg.dirs.len());
            for d in &cg.dirs {
                files.push((
                    static_name(&d.controllers),
                    open_write(&d.path.join("tasks"))?,
                ));
            }
            Ok(AttachHandles { files, dir: None })
        }
        Version::V2 => {
            let dir = cg.v2_dir();
            let procs = open_write(&dir.join("cgroup.procs"))?;
            let d: File = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY)
                .open(dir)
                .map_err(|e| Error::Open {
                    path: dir.to_path_buf(),
                    source: e,
                })?;
            Ok(AttachHandles {
                files: vec![("cgroup.procs", procs)],
                dir: Some(d.into()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn v1_enter_writes_zero_to_each_tasks() {
        let t = tempfile::tempdir().unwrap();
        let mut dirs = Vec::new();
        for c in ["cpu", "memory"] {
            let p = t.path().join(c);
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("tasks"), "").unwrap();
            dirs.push((vec![c.to_string()], t.path().to_path_buf(), p));
        }
        let cg = Cgroup::from_v1_dirs(dirs);
        let h = cg.attach_handles().unwrap();
        assert!(h.clone_into_fd().is_none());
        h.enter().unwrap();
        for c in ["cpu", "memory"] {
            assert_eq!(
                std::fs::read_to_string(t.path().join(c).join("tasks")).unwrap(),
                "0"
            );
        }
    }

    #[test]
    fn v2_has_dir_fd() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cgroup.procs"), "").unwrap();
        let cg = Cgroup::from_v2_dir(PathBuf::from("/"), t.path().to_path_buf());
        let h = cg.attach_handles().unwrap();
        assert!(h.clone_into_fd().is_some());
    }

    #[test]
    fn missing_tasks_names_file() {
        let t = tempfile::tempdir().unwrap();
        let cg = Cgroup::from_v1_dirs(vec![(
            vec!["pids".into()],
            t.path().to_path_buf(),
            t.path().join("nope"),
        )]);
        let e = cg.attach_handles().unwrap_err().to_string();
        assert!(e.contains("nope/tasks"), "{e}");
    }

    #[test]
    fn files_round_trip() {
        let t = tempfile::tempdir().unwrap();
        let mut dirs = Vec::new();
        for c in ["pids", "name=systemd", "name=foo"] {
            let p = t.path().join(c);
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("tasks"), "").unwrap();
            let ctrls = c.split(',').map(String::from).collect();
            dirs.push((ctrls, t.path().to_path_buf(), p));
        }
        let h = Cgroup::from_v1_dirs(dirs).attach_handles().unwrap();
        let sent: Vec<(&str, OwnedFd)> = h
            .files()
            .map(|(n, fd)| (n, fd.try_clone_to_owned().unwrap()))
            .collect();
        assert_eq!(
            sent.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            ["pids", "name=systemd", "other hierarchy"]
        );
        let got = AttachHandles::from_files(sent);
        assert!(got.clone_into_fd().is_none());
        got.enter().unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("name=foo/tasks")).unwrap(),
            "0"
        );
    }

    #[test]
    fn names_are_static() {
        assert_eq!(
            static_name(&["cpu".into(), "cpuacct".into()]),
            "cpu,cpuacct"
        );
        assert_eq!(static_name(&["name=foo".into()]), "other hierarchy");
    }
}
