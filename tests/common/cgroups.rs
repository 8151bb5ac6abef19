//! cgroups (v1 hybrid or pure v2): where the runtime puts a container's
//! cgroup, reading its files, removing leftovers.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// Is /sys/fs/cgroup a pure cgroup v2 (unified) hierarchy?
pub fn cgroup_v2() -> bool {
    static V2: OnceLock<bool> = OnceLock::new();
    *V2.get_or_init(|| {
        // SAFETY: statfs into a zeroed struct with a NUL-terminated path.
        unsafe {
            let mut st: libc::statfs = std::mem::zeroed();
            libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut st) == 0
                && st.f_type == libc::CGROUP2_SUPER_MAGIC
        }
    })
}

/// Our own cgroup per v1 hierarchy: (mount dir under /sys/fs/cgroup, path).
/// On a pure v2 host: one entry, (/sys/fs/cgroup, the *parent* of our
/// cgroup), since runc (and onggi) put relative cgroupsPaths below the
/// parent there (our own cgroup holds processes, it cannot delegate).
pub fn own_cgroups() -> Vec<(PathBuf, String)> {
    let text = fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    if cgroup_v2() {
        let own = text
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/");
        let parent = Path::new(own)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        return vec![(PathBuf::from("/sys/fs/cgroup"), parent)];
    }
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if ctrls.is_empty() {
            continue; // the v2 line
        }
        let name = ctrls.strip_prefix("name=").unwrap_or(ctrls);
        let mnt = Path::new("/sys/fs/cgroup").join(name);
        if mnt.is_dir() {
            out.push((mnt, path.to_string()));
        }
    }
    out
}

/// Where the runtime puts the cgroup of a relative cgroupsPath (or of the
/// default "<id>"): below our own cgroup in each hierarchy.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    own_cgroups()
        .into_iter()
        .map(|(mnt, own)| {
            mnt.join(own.trim_start_matches('/'))
                .join(rel.trim_start_matches('/'))
        })
        .collect()
}

/// Dirs of an absolute cgroupsPath in each hierarchy.
pub fn cgroup_dirs_abs(abs: &str) -> Vec<PathBuf> {
    own_cgroups()
        .into_iter()
        .map(|(mnt, _)| mnt.join(abs.trim_start_matches('/')))
        .collect()
}

/// Kill what is in a leftover cgroup dir (one the runtime made for our
/// test) and remove it, children first.
pub fn remove_cgroup(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup(&e.path());
            }
        }
    }
    for _ in 0..50 {
        if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
            for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill a process of a cgroup the runtime made for us.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cgroup dir of container cgroup path `rel` for controller `ctrl`
/// (v1: the hierarchy holding it; v2: the single unified dir).
pub fn ctrl_dir(rel: &str, ctrl: &str) -> PathBuf {
    let dirs = cgroup_dirs(rel);
    if cgroup_v2() {
        return dirs.into_iter().next().expect("v2 cgroup dir");
    }
    dirs.into_iter()
        .find(|d| {
            d.strip_prefix("/sys/fs/cgroup")
                .ok()
                .and_then(|r| r.components().next())
                .is_some_and(|c| c.as_os_str() == ctrl)
        })
        .unwrap_or_else(|| panic!("no {ctrl} hierarchy for {rel}"))
}

/// Read (trimmed) a cgroup file of container cgroup `rel`.
pub fn read_cg(rel: &str, ctrl: &str, file: &str) -> String {
    let p = ctrl_dir(rel, ctrl).join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The controller file for (v1 controller, v1 file, v2 file).
pub fn cg(id: &str, ctrl: &str, v1: &str, v2: &str) -> String {
    read_cg(id, ctrl, if cgroup_v2() { v2 } else { v1 })
}

/// `key value` line of a flat-keyed cgroup file (memory.events, ...).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}
