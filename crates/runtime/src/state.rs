//! Container state on disk: `<root>/<id>.json` plus the start barrier
//! `<root>/<id>.fifo`, and the status derived from them.
//!
//! Files, not a directory per container: a directory takes a block at once,
//! and on a filesystem mounted with `discard` (ext4 here) removing it waits
//! for the discard of that block (~0.17 ms of every `run`). A state file
//! removed before writeback never had a block.
//!
//! The status is never trusted from the file alone: the init process is
//! identified by pid *and* start time, so a recycled pid reads as stopped.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// Suffixes of a container's files in the state root. A state file's name
/// ends in ".json", a temporary file's in ".tmp", a fifo's in ".fifo", so
/// the names of different ids never collide.
const STATE_SUFFIX: &str = ".json";
const TMP_SUFFIX: &str = ".json.tmp";
const FIFO_SUFFIX: &str = ".fifo";
/// What one write puts into a file as one change of its size.
const PAGE: usize = 4096;

/// The exec fifo's name in the state root.
pub fn fifo_name(id: &str) -> String {
    format!("{id}{FIFO_SUFFIX}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What the runtime remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat when the init was started.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    #[serde(default)]
    pub owner: String,
    /// The container's cgroup, if the runtime placed it in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<onggi_cgroups::Cgroup>,
    /// The config the container was created from: delete needs its poststop
    /// hooks even when the bundle is gone.
    pub config: oci_spec::runtime::Spec,
}

/// The state directory root (`--root`).
#[derive(Debug, Clone)]
pub struct StateRoot {
    pub path: PathBuf,
}

/// runc's id rule: letters, digits, `_ + - .`, not `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::InvalidId {
            id: id.to_string(),
            why,
        })
    };
    if id.is_empty() {
        return bad("empty");
    }
    if id == "." || id == ".." {
        return bad("not a name");
    }
    if id.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

impl StateRoot {
    pub fn new(path: impl Into<PathBuf>) -> StateRoot {
        StateRoot { path: path.into() }
    }

    /// `<root>/<id>.json`.
    pub fn state_path(&self, id: &str) -> PathBuf {
        self.path.join(format!("{id}{STATE_SUFFIX}"))
    }

    /// `<root>/<id>.fifo`, the start barrier while the container is created.
    pub fn fifo_path(&self, id: &str) -> PathBuf {
        self.path.join(fifo_name(id))
    }

    fn tmp_path(&self, id: &str) -> PathBuf {
        self.path.join(format!("{id}{TMP_SUFFIX}"))
    }

    /// Reserve `id` for a new container: an empty `<root>/<id>.json`, made
    /// with O_EXCL, is the atomic "does this id exist" check. It reads as
    /// no container until [`StateRoot::save_new`] fills it.
    pub fn reserve(&self, id: &str) -> Result<()> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.path)
            .at(&self.path)?;
        let path = self.state_path(id);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::AlreadyExists(id.to_string()))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    pub fn load(&self, id: &str) -> Result<ContainerState> {
        validate_id(id)?;
        let path = self.state_path(id);
        let text = match fs::read(&path) {
            // Reserved by a create that has not saved the state yet.
            Ok(t) if t.is_empty() => return Err(Error::NotFound(id.to_string())),
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_slice(&text).map_err(|e| Error::State {
            id: id.to_string(),
            path: path.clone(),
            msg: e.to_string(),
        })
    }

    /// The first state of a container just reserved: written into the
    /// empty `<id>.json` with one write when it fits in a page, which a
    /// reader sees whole or not at all (the file's size changes once, after
    /// the data is in); else as [`StateRoot::save`] does.
    ///
    /// Not a rename over the empty file: ext4 (auto_da_alloc) then gives the
    /// new file a block at once, and removing it waits for that block's
    /// discard (~0.1 ms of every `run` on a `discard` mount).
    pub fn save_new(&self, state: &ContainerState) -> Result<()> {
        let path = self.state_path(&state.id);
        let data = self.serialize(state, &path)?;
        if data.len() > PAGE {
            return self.write_replace(state, &data);
        }
        fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &data))
            .at(&path)
    }

    /// Write `<id>.json` atomically (temp file + rename). /run is a tmpfs,
    /// so no fsync: the state must not outlive a reboot anyway.
    pub fn save(&self, state: &ContainerState) -> Result<()> {
        let data = self.serialize(state, &self.tmp_path(&state.id))?;
        self.write_replace(state, &data)
    }

    fn serialize(&self, state: &ContainerState, path: &Path) -> Result<Vec<u8>> {
        serde_json::to_vec(state).map_err(|e| Error::State {
            id: state.id.clone(),
            path: path.to_path_buf(),
            msg: e.to_string(),
        })
    }

    fn write_replace(&self, state: &ContainerState, data: &[u8]) -> Result<()> {
        let tmp = self.tmp_path(&state.id);
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, data))
            .at(&tmp)?;
        let path = self.state_path(&state.id);
        fs::rename(&tmp, &path).at(&path)
    }

    /// Remove the container's files: the fifo first, the state last, so
    /// a reader never finds a fifo without a container.
    pub fn remove(&self, id: &str) -> Result<()> {
        for path in [self.fifo_path(id), self.tmp_path(id), self.state_path(id)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Ok(())
    }

    /// Ids of every container with a saved state file, sorted (not the
    /// empty files of reserved ids).
    pub fn list(&self) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.metadata().is_ok_and(|m| m.is_file() && m.len() > 0))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(STATE_SUFFIX).map(str::to_string))
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Start time (field 22 of /proc/<pid>/stat) and state letter of a process.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let text = onggi_cgroups::read_kernel_file(Path::new(&format!("/proc/{pid}/stat"))).ok()?;
    // The command name may contain spaces and parentheses: fields after the
    // last ')' are fixed.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // After "state" come fields 4..; start time is field 22 overall.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((start, state))
}

impl ContainerState {
    /// Is the recorded init still alive (and not a zombie)?
    pub fn init_alive(&self) -> bool {
        if self.pid <= 0 {
            return false;
        }
        match proc_stat(self.pid) {
            Some((start, state)) => start == self.pid_start_time && state != 'Z' && state != 'X',
            None => false,
        }
    }

    /// The status as the spec defines it, from the process and the barrier
    /// (`fifo`: `<root>/<id>.fifo`).
    pub fn status(&self, fifo: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if fifo.exists() {
            return Status::Created;
        }
        if let Some(cg) = &self.cgroup {
            if cg.is_frozen().unwrap_or(false) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    /// The state JSON of the runtime spec (plus runc's extra fields), as
    /// `state` prints it and hooks read it on stdin.
    pub fn oci_state(&self, status: Status) -> serde_json::Value {
        let pid = match status {
            Status::Stopped => 0,
            _ => self.pid,
        };
        serde_json::json!({
            "ociVersion": crate::spec::OCI_VERSION,
            "id": self.id,
            "status": status,
            "pid": pid,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reserve_is_exclusive_and_list_sees_saved_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = StateRoot::new(dir.path().join("state"));
        root.reserve("one").expect("first");
        assert!(matches!(root.reserve("one"), Err(Error::AlreadyExists(_))));
        assert!(root.list().expect("list").is_empty());
        assert!(matches!(root.load("one"), Err(Error::NotFound(_))));
        root.remove("one").expect("remove");
        root.remove("one").expect("remove twice is fine");
    }

    fn state_of(id: &str, annotation_bytes: usize) -> ContainerState {
        let mut annotations = HashMap::new();
        annotations.insert("pad".to_string(), "x".repeat(annotation_bytes));
        ContainerState {
            id: id.into(),
            pid: 1,
            pid_start_time: 2,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "now".into(),
            annotations,
            owner: String::new(),
            cgroup: None,
            config: oci_spec::runtime::Spec::default(),
        }
    }

    #[test]
    fn first_save_small_or_large_then_update_and_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = StateRoot::new(dir.path().join("state"));
        // One page (written in place) and several (temp file + rename).
        for (id, pad) in [("small", 10), ("large", 3 * PAGE)] {
            root.reserve(id).expect("reserve");
            root.save_new(&state_of(id, pad)).expect("first save");
            let back = root.load(id).expect("load");
            assert_eq!(back.annotations["pad"].len(), pad, "{id}");
            let mut changed = back.clone();
            changed.pid = 7;
            root.save(&changed).expect("update");
            assert_eq!(root.load(id).expect("load again").pid, 7, "{id}");
        }
        assert_eq!(root.list().expect("list"), ["large", "small"]);
        for id in ["small", "large"] {
            root.remove(id).expect("remove");
        }
        let left: Vec<_> = fs::read_dir(&root.path).expect("read").flatten().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn own_process_stat() {
        let (start, state) = proc_stat(std::process::id() as i32).expect("self");
        assert!(start > 0);
        assert!(state != 'Z' && state != 'X');
    }
}
