//! Reading /proc/self/mountinfo and /proc/self/cgroup, and turning
//! linux.cgroupsPath into directories. Pure functions over the file contents,
//! so the logic is unit tested without a real cgroupfs.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{ControllerDir, Hierarchy, Version};

pub(crate) const MOUNTINFO: &str = "/proc/self/mountinfo";
pub(crate) const PROC_CGROUP: &str = "/proc/self/cgroup";

/// One cgroup or cgroup2 mount.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CgMount {
    pub v2: bool,
    /// The hierarchy path mounted here (4th mountinfo field).
    pub root: String,
    pub mountpoint: PathBuf,
    /// Super options (controllers and name= for v1).
    pub opts: Vec<String>,
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_mountinfo(s: &str) -> Vec<CgMount> {
    let mut out = Vec::new();
    // Most lines are not cgroup mounts: look at the filesystem type first,
    // and take the other fields without collecting every line's fields.
    for line in s.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let v2 = match post.next() {
            Some("cgroup") => false,
            Some("cgroup2") => true,
            _ => continue,
        };
        let mut pre = pre.split(' ').skip(3);
        let (Some(root), Some(mountpoint), Some(opts)) = (pre.next(), pre.next(), post.nth(1))
        else {
            continue;
        };
        out.push(CgMount {
            v2,
            root: unescape(root),
            mountpoint: PathBuf::from(unescape(mountpoint)),
            opts: opts.split(',').map(str::to_string).collect(),
        });
    }
    out
}

/// One line of /proc/self/cgroup: "id:controllers:path".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcEntry {
    pub id: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

pub(crate) fn parse_proc_cgroup(s: &str) -> Result<Vec<ProcEntry>> {
    let mut out = Vec::new();
    for line in s.lines().filter(|l| !l.is_empty()) {
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(ctl), Some(path)) = (it.next(), it.next(), it.next()) else {
            return Err(Error::Parse {
                path: PROC_CGROUP.into(),
                msg: format!("bad line {line:?}"),
            });
        };
        let id = id.parse().map_err(|_| Error::Parse {
            path: PROC_CGROUP.into(),
            msg: format!("bad hierarchy id in {line:?}"),
        })?;
        out.push(ProcEntry {
            id,
            controllers: ctl
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            path: path.to_string(),
        });
    }
    Ok(out)
}

pub(crate) fn detect_from(mounts: &[CgMount]) -> Result<Hierarchy> {
    let unified_root = mounts
        .iter()
        .any(|m| m.v2 && m.mountpoint == Path::new("/sys/fs/cgroup"));
    let any_v1 = mounts.iter().any(|m| !m.v2);
    let any_v2 = mounts.iter().any(|m| m.v2);
    match (unified_root, any_v1, any_v2) {
        (true, _, _) => Ok(Hierarchy::Unified),
        (false, true, true) => Ok(Hierarchy::Hybrid),
        (false, true, false) => Ok(Hierarchy::V1),
        (false, false, true) => Ok(Hierarchy::Unified),
        (false, false, false) => Err(Error::NoCgroupMount {
            path: MOUNTINFO.into(),
        }),
    }
}

/// The validated form of cgroupsPath: absolute or not, and its components.
#[derive(Debug, PartialEq)]
pub(crate) struct CgPath {
    pub absolute: bool,
    pub comps: Vec<String>,
}

pub(crate) fn parse_cgroups_path(cgroups_path: Option<&str>, id: &str) -> Result<CgPath> {
    let bad = |p: &str, reason: &str| Error::InvalidPath {
        path: p.to_string(),
        reason: reason.to_string(),
    };
    let p = match cgroups_path {
        Some(p) if !p.is_empty() => p,
        _ => {
            // Default: a cgroup named after the container id.
            if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\0', '\n']) {
                return Err(bad(id, "the container id is not usable as a cgroup name"));
            }
            return Ok(CgPath {
                absolute: false,
                comps: vec![id.to_string()],
            });
        }
    };
    if !p.starts_with('/') && p.split(':').count() == 3 {
        return Err(Error::SystemdUnsupported(p.to_string()));
    }
    if p.contains(['\0', '\n']) {
        return Err(bad(p, "contains a NUL or newline"));
    }
    let mut comps = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad(p, "\"..\" components are not allowed")),
            c => comps.push(c.to_string()),
        }
    }
    if comps.is_empty() {
        return Err(bad(p, "names the root of the hierarchy"));
    }
    Ok(CgPath {
        absolute: p.starts_with('/'),
        comps,
    })
}

/// Map the hierarchy path `own` (as in /proc/self/cgroup) to a directory via
/// mount `m`, which may have mounted only a subtree (`m.root`).
fn own_dir(m: &CgMount, own: &str) -> Result<PathBuf> {
    let root = m.root.trim_end_matches('/');
    let rel = own.strip_prefix(root).ok_or_else(|| Error::OutsideMount {
        path: m.mountpoint.clone(),
        root: m.root.clone(),
    })?;
    if !(rel.is_empty() || rel.starts_with('/')) {
        return Err(Error::OutsideMount {
            path: m.mountpoint.clone(),
            root: m.root.clone(),
        });
    }
    Ok(join(&m.mountpoint, rel))
}

fn join(base: &Path, rel: &str) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        p.push(c);
    }
    p
}

fn join_comps(base: &Path, comps: &[String]) -> PathBuf {
    let mut p = base.to_path_buf();
    p.extend(comps);
    p
}

/// Does the mount carry exactly this v1 hierarchy (all of its controllers)?
fn mount_has(m: &CgMount, controllers: &[String]) -> bool {
    !m.v2 && controllers.iter().all(|c| m.opts.iter().any(|o| o == c))
}

/// Resolve against given mountinfo and /proc/self/cgroup contents.
pub(crate) fn resolve_from(
    mountinfo: &str,
    proc_cgroup: &str,
    cgroups_path: Option<&str>,
    id: &str,
) -> Result<(Version, Vec<ControllerDir>)> {
    let cg = parse_cgroups_path(cgroups_path, id)?;
    let mounts = parse_mountinfo(mountinfo);
    let hier = detect_from(&mounts)?;
    let entries = parse_proc_cgroup(proc_cgroup)?;
    if hier == Hierarchy::Unified {
        let m = mounts
            .iter()
            .find(|m| m.v2 && m.mountpoint == Path::new("/sys/fs/cgroup"))
            .or_else(|| mounts.iter().find(|m| m.v2))
            .ok_or(Error::NoCgroupMount {
                path: MOUNTINFO.into(),
            })?;
        let base = if cg.absolute {
            m.mountpoint.clone()
        } else {
            let own = entries
                .iter()
                .find(|e| e.id == 0)
                .ok_or_else(|| Error::Parse {
                    path: PROC_CGROUP.into(),
                    msg: "no \"0::\" line for the unified hierarchy".into(),
                })?;
            // Like runc: the parent of our own cgroup, because our own one holds
            // a process (us) and so cannot enable controllers for a child
            // ("no internal processes" rule).
            let parent = match own.path.rfind('/') {
                Some(0) | None => "/",
                Some(i) => &own.path[..i],
            };
            own_dir(m, parent)?
        };
        let path = join_comps(&base, &cg.comps);
        return Ok((
            Version::V2,
            vec![ControllerDir {
                controllers: Vec::new(),
                mount: m.mountpoint.clone(),
                path,
            }],
        ));
    }
    let mut dirs: Vec<ControllerDir> = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.id != 0 && !e.controllers.is_empty())
    {
        // A hierarchy can be mounted more than once; take the first mount that
        // shows our own cgroup.
        let Some((m, own)) = mounts
            .iter()
            .filter(|m| mount_has(m, &e.controllers))
            .find_map(|m| own_dir(m, &e.path).ok().map(|d| (m, d)))
        else {
            continue;
        };
        if dirs.iter().any(|d| d.controllers == e.controllers) {
            continue;
        }
        let base = if cg.absolute {
            m.mountpoint.clone()
        } else {
            own
        };
        dirs.push(ControllerDir {
            controllers: e.controllers.clone(),
            mount: m.mountpoint.clone(),
            path: join_comps(&base, &cg.comps),
        });
    }
    if dirs.is_empty() {
        return Err(Error::NoCgroupMount {
            path: MOUNTINFO.into(),
        });
    }
    Ok((Version::V1, dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
9:name=systemd:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
3:net_cls:/
0::/
";
    const UNIFIED: &str = "\
25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn detects() {
        assert_eq!(
            detect_from(&parse_mountinfo(HYBRID)).unwrap(),
            Hierarchy::Hybrid
        );
        assert_eq!(
            detect_from(&parse_mountinfo(UNIFIED)).unwrap(),
            Hierarchy::Unified
        );
        let v1: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(detect_from(&parse_mountinfo(&v1)).unwrap(), Hierarchy::V1);
        assert!(detect_from(&[]).is_err());
    }

    #[test]
    fn unescapes_mountpoints() {
        let m = parse_mountinfo("1 2 0:1 / /a\\040b rw - cgroup cgroup rw,pids\n");
        assert_eq!(m[0].mountpoint, PathBuf::from("/a b"));
    }

    #[test]
    fn relative_v1_goes_below_own_cgroup() {
        let (v, dirs) = resolve_from(HYBRID, HYBRID_SELF, None, "ctr").unwrap();
        assert_eq!(v, Version::V1);
        let get = |c: &str| {
            dirs.iter()
                .find(|d| d.controllers == [c])
                .map(|d| d.path.clone())
                .unwrap()
        };
        assert_eq!(
            get("memory"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/abc/ctr")
        );
        assert_eq!(get("cpu"), PathBuf::from("/sys/fs/cgroup/cpu/ctr"));
        assert_eq!(
            get("name=systemd"),
            PathBuf::from("/sys/fs/cgroup/systemd/ctr")
        );
        // net_cls is listed in /proc/self/cgroup but not mounted: skipped.
        assert_eq!(dirs.len(), 4);
    }

    #[test]
    fn absolute_v1_goes_below_mount_root() {
        let (_, dirs) = resolve_from(HYBRID, HYBRID_SELF, Some("/a/b"), "x").unwrap();
        let mem = dirs.iter().find(|d| d.controllers == ["memory"]).unwrap();
        assert_eq!(mem.path, PathBuf::from("/sys/fs/cgroup/memory/a/b"));
        assert_eq!(mem.mount, PathBuf::from("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn comounted_and_subtree_mounts() {
        let mi = "1 0 0:1 /lxc/c1 /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let pc = "2:cpu,cpuacct:/lxc/c1/sub\n";
        let (_, dirs) = resolve_from(mi, pc, Some("k"), "x").unwrap();
        assert_eq!(dirs[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(
            dirs[0].path,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/sub/k")
        );
        // Own cgroup outside the mounted subtree: that hierarchy is unusable.
        let pc = "2:cpu,cpuacct:/other\n";
        assert!(resolve_from(mi, pc, Some("k"), "x").is_err());
    }

    #[test]
    fn unified_paths() {
        let pc = "0::/user.slice/session-1.scope\n";
        let (v, dirs) = resolve_from(UNIFIED, pc, None, "c1").unwrap();
        assert_eq!(v, Version::V2);
        assert_eq!(dirs[0].path, PathBuf::from("/sys/fs/cgroup/user.slice/c1"));
        let (_, dirs) = resolve_from(UNIFIED, "0::/\n", Some("/x/y"), "c1").unwrap();
        assert_eq!(dirs[0].path, PathBuf::from("/sys/fs/cgroup/x/y"));
        let (_, dirs) = resolve_from(UNIFIED, "0::/\n", Some("y"), "c1").unwrap();
        assert_eq!(dirs[0].path, PathBuf::from("/sys/fs/cgroup/y"));
    }

    #[test]
    fn rejects_bad_paths() {
        for p in ["/a/../b", "..", "/", "//", "a/\n", "./"] {
            assert!(
                matches!(
                    parse_cgroups_path(Some(p), "x"),
                    Err(Error::InvalidPath { .. })
                ),
                "{p:?}"
            );
        }
        assert!(matches!(
            parse_cgroups_path(Some("system.slice:onggi:abc"), "x"),
            Err(Error::SystemdUnsupported(_))
        ));
        assert!(parse_cgroups_path(None, "a/b").is_err());
        assert!(parse_cgroups_path(None, "..").is_err());
        assert_eq!(
            parse_cgroups_path(Some("/a//./b/"), "x").unwrap(),
            CgPath {
                absolute: true,
                comps: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(parse_cgroups_path(Some(""), "id").unwrap().comps, ["id"]);
    }
}
