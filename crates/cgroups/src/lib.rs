//! cgroup v1 and v2 managers for onggi.
//!
//! [`Cgroup::resolve`] turns `linux.cgroupsPath` into directories without
//! touching anything; [`Cgroup::create`] makes them (remembering which ones, so
//! [`Cgroup::destroy`] removes exactly those); [`Cgroup::apply`] writes
//! `linux.resources`. [`AttachHandles`] let the container init move itself in
//! cheaply (v1: opened while the init does its mounts, then passed to it) or
//! be cloned straight into the cgroup (v2, `CLONE_INTO_CGROUP`: opened before
//! the clone).

mod attach;
mod devices;
mod error;
mod fs;
mod mounts;
mod stats;
mod v1;
mod v2;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use attach::AttachHandles;
pub use error::{Error, Result};
pub use fs::read_small as read_kernel_file;
pub use stats::*;

/// Which cgroup layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hierarchy {
    /// Only v1 hierarchies.
    V1,
    /// v1 controllers plus a cgroup2 mount without controllers (systemd's
    /// "hybrid"); onggi manages the v1 hierarchies.
    Hybrid,
    /// cgroup2 at /sys/fs/cgroup.
    Unified,
}

/// Detect the layout from /proc/self/mountinfo.
pub fn detect() -> Result<Hierarchy> {
    let mi = fs::read_path(Path::new(mounts::MOUNTINFO))?;
    mounts::detect_from(&mounts::parse_mountinfo(&mi))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Version {
    V1,
    V2,
}

/// One hierarchy's directory for this cgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ControllerDir {
    /// v1: the controllers of the hierarchy ("cpu", or "cpu","cpuacct" when
    /// co-mounted, or "name=systemd"); empty for v2.
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted; `create` makes directories below it only.
    pub mount: PathBuf,
    pub path: PathBuf,
}

/// The two files cgroup resolution reads: /proc/self/mountinfo and
/// /proc/self/cgroup of the caller.
#[derive(Debug, Clone, Default)]
pub struct HostView {
    pub mountinfo: String,
    pub proc_cgroup: String,
}

impl HostView {
    pub fn read() -> Result<HostView> {
        Ok(HostView {
            mountinfo: fs::read_path(Path::new(mounts::MOUNTINFO))?,
            proc_cgroup: fs::read_path(Path::new(mounts::PROC_CGROUP))?,
        })
    }
}

/// A container's cgroup: resolved directories, and which of them `create` made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cgroup {
    version: Version,
    dirs: Vec<ControllerDir>,
    #[serde(default)]
    created: Vec<PathBuf>,
}

impl Cgroup {
    /// Resolve `linux.cgroupsPath`. `None` (or "") means the relative path
    /// "<id>". Relative paths go below the caller's own cgroup (per hierarchy
    /// on v1, from /proc/self/cgroup; on v2 below the *parent* of the caller's
    /// cgroup, as runc does, since the caller's own cgroup holds the caller and
    /// so could not delegate controllers). Absolute paths go below each
    /// hierarchy's mount point. Only reads files.
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        Cgroup::resolve_in(&HostView::read()?, cgroups_path, id)
    }

    /// `resolve` over an already read view of the host, for callers that
    /// need the same files for other work (one read of each per create).
    pub fn resolve_in(host: &HostView, cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let (version, dirs) =
            mounts::resolve_from(&host.mountinfo, &host.proc_cgroup, cgroups_path, id)?;
        Ok(Cgroup {
            version,
            dirs,
            created: Vec::new(),
        })
    }

    /// A v1 cgroup over given directories (tests, or callers that resolved
    /// paths themselves). Each entry: (controllers, mount point, directory).
    pub fn from_v1_dirs(dirs: Vec<(Vec<String>, PathBuf, PathBuf)>) -> Cgroup {
        Cgroup {
            version: Version::V1,
            dirs: dirs
                .into_iter()
                .map(|(controllers, mount, path)| ControllerDir {
                    controllers,
                    mount,
                    path,
                })
                .collect(),
            created: Vec::new(),
        }
    }

    /// A v2 cgroup at `path` in the hierarchy mounted at `mount`.
    pub fn from_v2_dir(mount: PathBuf, path: PathBuf) -> Cgroup {
        Cgroup {
            version: Version::V2,
            dirs: vec![ControllerDir {
                controllers: Vec::new(),
                mount,
                path,
            }],
            created: Vec::new(),
        }
    }

    pub fn is_v2(&self) -> bool {
        self.version == Version::V2
    }

    /// The directories: (comma-joined controllers, path); one ("", path) on v2.
    pub fn paths(&self) -> Vec<(String, &Path)> {
        self.dirs
            .iter()
            .map(|d| (d.controllers.join(","), d.path.as_path()))
            .collect()
    }

    /// Directories that `create` made, shallowest first.
    pub fn created_dirs(&self) -> &[PathBuf] {
        &self.created
    }

    /// v1: the directory of the hierarchy that carries `controller`.
    pub(crate) fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// v2: the one directory.
    pub(crate) fn v2_dir(&self) -> &Path {
        // resolve/from_v2_dir always make exactly one entry for v2; an empty
        // list can only come from a hand-edited state file.
        self.dirs
            .first()
            .map(|d| d.path.as_path())
            .unwrap_or(Path::new("/nonexistent-cgroup"))
    }

    /// mkdir -p every directory, recording the ones made here. v1: cpuset
    /// directories get cpus/mems from their parent when empty. v2: controllers
    /// are enabled in every ancestor's cgroup.subtree_control.
    pub fn create(&mut self) -> Result<()> {
        for i in 0..self.dirs.len() {
            let (mount, path) = (self.dirs[i].mount.clone(), self.dirs[i].path.clone());
            mkdir_p(&mount, &path, &mut self.created)?;
        }
        match self.version {
            Version::V1 => v1::after_create(self),
            Version::V2 => v2::after_create(self),
        }
    }

    /// Write every `linux.resources` field.
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        match self.version {
            Version::V1 => v1::apply(self, resources),
            Version::V2 => v2::apply(self, resources),
        }
    }

    /// Like [`Cgroup::apply`], for `onggi-runtime update` on a running container.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        self.apply(resources)
    }

    /// Open the files the container init uses to enter the cgroup.
    pub fn attach_handles(&self) -> Result<AttachHandles> {
        attach::open(self)
    }

    /// Move process `pid` (all its threads) into the cgroup.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        let v = pid.to_string();
        for d in &self.dirs {
            fs::write(&d.path, "cgroup.procs", &v)?;
        }
        Ok(())
    }

    pub fn freeze(&self) -> Result<()> {
        match self.version {
            Version::V1 => v1::freezer::freeze(self),
            Version::V2 => v2::freezer::freeze(self.v2_dir()),
        }
    }

    pub fn thaw(&self) -> Result<()> {
        match self.version {
            Version::V1 => v1::freezer::thaw(self),
            Version::V2 => v2::freezer::thaw(self.v2_dir()),
        }
    }

    pub fn is_frozen(&self) -> Result<bool> {
        match self.version {
            Version::V1 => v1::freezer::is_frozen(self),
            Version::V2 => v2::freezer::is_frozen(self.v2_dir()),
        }
    }

    /// Every process in the cgroup and below it.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = match self.version {
            // Any hierarchy sees the same processes; prefer ones every
            // container uses.
            Version::V1 => ["pids", "freezer", "memory", "cpu", "devices"]
                .iter()
                .find_map(|c| self.v1_dir(c))
                .or_else(|| self.dirs.first().map(|d| d.path.as_path())),
            Version::V2 => Some(self.v2_dir()),
        };
        let mut out = Vec::new();
        if let Some(dir) = dir {
            fs::procs_recursive(dir, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Statistics in the shape of runc's `events --stats` "data" object.
    pub fn stats(&self) -> Result<Stats> {
        match self.version {
            Version::V1 => v1::stats(self),
            Version::V2 => v2::stats(self.v2_dir()),
        }
    }

    /// How many times the OOM killer killed a process in this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64> {
        match self.version {
            Version::V1 => v1::memory::oom_kill_count(self),
            Version::V2 => v2::memory::oom_kill_count(self.v2_dir()),
        }
    }

    /// Remove the container's own cgroup directories (the leaves), as runc
    /// and crun do. Parents stay: they are shared by every container below
    /// them, and removing one races with a sibling's `mkdir -p` (its create
    /// would fail with ENOENT). Retries EBUSY for a while (tasks still
    /// exiting); gone dirs are fine.
    pub fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for d in &self.dirs {
            if let Err(e) = rmdir_retry(&d.path) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Undo a `create` that did not lead to a container: the leaves, then
    /// every parent this `create` made, when it is still empty.
    pub fn discard(&self) -> Result<()> {
        let mut first_err = None;
        for p in self.created.iter().rev() {
            let leaf = self.dirs.iter().any(|d| d.path == *p);
            let r = if leaf {
                rmdir_retry(p)
            } else {
                // A parent we created may since hold other containers'
                // cgroups: remove it only when it is empty, without waiting.
                match std::fs::remove_dir(p) {
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EBUSY) | Some(libc::ENOTEMPTY)
                        ) =>
                    {
                        Ok(())
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    r => r.map_err(|e| Error::Rmdir {
                        path: p.clone(),
                        source: e,
                    }),
                }
            };
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn mkdir_p(mount: &Path, path: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let rel = path.strip_prefix(mount).map_err(|_| Error::InvalidPath {
        path: path.display().to_string(),
        reason: format!("not below the hierarchy mounted at {}", mount.display()),
    })?;
    let mut cur = mount.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match std::fs::create_dir(&cur) {
            Ok(()) => {
                // Byte comparison: `created` holds paths built the same way,
                // and Path's == compares component by component.
                if !created.iter().any(|p| p.as_os_str() == cur.as_os_str()) {
                    created.push(cur.clone());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Error::Mkdir {
                    path: cur,
                    source: e,
                })
            }
        }
    }
    Ok(())
}

/// Total time `destroy` waits for a busy cgroup to empty.
const RMDIR_PATIENCE: Duration = Duration::from_millis(2000);

fn rmdir_retry(p: &Path) -> Result<()> {
    let start = std::time::Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(p) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < RMDIR_PATIENCE => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(Error::Rmdir {
                    path: p.to_path_buf(),
                    source: e,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_and_destroy_only_own_dirs() {
        let t = tempfile::tempdir().unwrap();
        let mount = t.path().join("memory");
        std::fs::create_dir_all(mount.join("existing")).unwrap();
        let mut cg = Cgroup::from_v1_dirs(vec![(
            vec!["memory".into()],
            mount.clone(),
            mount.join("existing/a/b"),
        )]);
        cg.create().unwrap();
        assert_eq!(
            cg.created_dirs(),
            [mount.join("existing/a"), mount.join("existing/a/b")]
        );
        // Round trip through the state file.
        let cg: Cgroup = serde_json::from_str(&serde_json::to_string(&cg).unwrap()).unwrap();
        cg.destroy().unwrap();
        assert!(!mount.join("existing/a/b").exists());
        // The parent stays after a delete, as in runc: siblings share it.
        assert!(mount.join("existing/a").is_dir());
        cg.destroy().unwrap();
        cg.discard().unwrap();
        assert!(mount.join("existing").is_dir());
        assert!(!mount.join("existing/a").exists());
    }

    #[test]
    fn refuses_dirs_outside_mount() {
        let t = tempfile::tempdir().unwrap();
        let mut cg = Cgroup::from_v2_dir(t.path().join("m"), t.path().join("x"));
        assert!(matches!(cg.create(), Err(Error::InvalidPath { .. })));
    }
}
