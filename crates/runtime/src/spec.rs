//! Loading and validating a bundle's config.json, and the default config
//! `onggi-runtime spec` writes.
//!
//! Validation happens before anything is created, so a bad bundle leaves
//! nothing behind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// Oldest and newest runtime-spec versions this runtime accepts.
pub const OCI_VERSION_MIN: &str = "1.0.0";
pub const OCI_VERSION_MAX: &str = "1.3.0";
/// The version reported in state JSON and hook input.
pub const OCI_VERSION: &str = "1.3.0";

/// A parsed, validated bundle: the spec plus its resolved rootfs path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Load `<dir>/config.json`, check it, and resolve the root filesystem.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        let config_path = dir.join("config.json");
        let text = std::fs::read(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let spec: Spec = match serde_json::from_slice(&text) {
            Ok(s) => s,
            Err(e) => return Err(Error::config(&config_path, parse_error_detail(&text, e))),
        };
        let rootfs = validate(&spec, &dir, &config_path)?;
        Ok(Bundle { dir, spec, rootfs })
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
}

/// A parse error, made precise where a generic serde message would be
/// vague (an unknown seccomp action says which one and where).
fn parse_error_detail(text: &[u8], e: serde_json::Error) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(text) {
        if let Some(sc) = v.get("linux").and_then(|l| l.get("seccomp")) {
            if let Err(se) = onggi_seccomp::parse_seccomp(sc.to_string().as_bytes()) {
                return format!("cannot parse: {se}");
            }
        }
    }
    format!("cannot parse: {e}")
}

/// Parse "MAJOR.MINOR.PATCH[-suffix]" into numbers.
fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Is `v` a version in [OCI_VERSION_MIN, 1.3.x]? Patch releases of 1.3 are
/// compatible by semver, so any 1.3 patch is accepted.
pub fn version_supported(v: &str) -> bool {
    matches!(parse_version(v), Some((1, minor, _)) if minor <= 3)
}

/// Check the parts of the spec that must hold before creation starts.
/// Returns the absolute rootfs path.
fn validate(spec: &Spec, bundle: &Path, config_path: &Path) -> Result<PathBuf> {
    let bad = |msg: String| Error::config(config_path, msg);
    let version = spec.version();
    if version.is_empty() {
        return Err(bad("ociVersion is missing".into()));
    }
    if !version_supported(version) {
        return Err(bad(format!(
            "unsupported ociVersion {version:?} (supported: {OCI_VERSION_MIN} to 1.3.x)"
        )));
    }

    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| bad("root is missing".into()))?;
    let rootfs = bundle.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(bad(format!(
                "rootfs {} is not a directory",
                rootfs.display()
            )))
        }
        Err(e) => return Err(bad(format!("rootfs {}: {e}", rootfs.display()))),
    }

    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| bad("process is missing".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(bad("process.args must not be empty".into()));
    }
    if !process.cwd().is_absolute() {
        return Err(bad(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd()
        )));
    }

    let linux = spec.linux().as_ref();
    let namespaces = linux.and_then(|l| l.namespaces().as_ref());
    let mut seen = HashSet::new();
    for ns in namespaces.into_iter().flatten() {
        if !seen.insert(ns.typ()) {
            return Err(bad(format!("namespace {} is listed twice", ns.typ())));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(bad(format!(
                    "namespace {} path {p:?} is not absolute",
                    ns.typ()
                )));
            }
        }
    }
    let new_ns = |t: LinuxNamespaceType| {
        namespaces
            .into_iter()
            .flatten()
            .any(|ns| ns.typ() == t && ns.path().is_none())
    };
    let has_ns = |t: LinuxNamespaceType| namespaces.into_iter().flatten().any(|ns| ns.typ() == t);

    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has_ns(LinuxNamespaceType::Uts) {
        return Err(bad(
            "hostname is set but the container has no UTS namespace".into(),
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has_ns(LinuxNamespaceType::Uts)
    {
        return Err(bad(
            "domainname is set but the container has no UTS namespace".into(),
        ));
    }
    if let Some(linux) = linux {
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !new_ns(LinuxNamespaceType::User) {
            return Err(bad(
                "uidMappings/gidMappings need a new user namespace".into()
            ));
        }
        if new_ns(LinuxNamespaceType::User)
            && (linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
                || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()))
        {
            return Err(bad(
                "a new user namespace needs uidMappings and gidMappings".into(),
            ));
        }
        if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
            && !new_ns(LinuxNamespaceType::Time)
        {
            return Err(bad("timeOffsets need a new time namespace".into()));
        }
        if let Some(offsets) = linux.time_offsets() {
            for clock in offsets.keys() {
                if clock != "monotonic" && clock != "boottime" {
                    return Err(bad(format!("timeOffsets: unknown clock {clock:?}")));
                }
            }
        }
        if let Some(p) = linux.rootfs_propagation() {
            if !p.is_empty() && crate::rootfs::options::propagation_flag(p).is_none() {
                return Err(bad(format!(
                    "rootfsPropagation {p:?} is not a propagation mode"
                )));
            }
        }
        for (key, _) in linux.sysctl().iter().flatten() {
            validate_sysctl(key, &has_ns).map_err(bad)?;
        }
        if let Some(p) = linux.personality() {
            crate::init::process::personality_value(p).map_err(bad)?;
        }
    }
    for m in spec.mounts().iter().flatten() {
        if m.destination().as_os_str().is_empty() {
            return Err(bad("a mount has an empty destination".into()));
        }
        for o in m.options().iter().flatten() {
            crate::rootfs::options::check_option(o)
                .map_err(|e| bad(format!("mount {}: {e}", m.destination().display())))?;
        }
    }
    if let Some(hooks) = spec.hooks() {
        #[allow(deprecated)]
        let all = [
            hooks.prestart(),
            hooks.create_runtime(),
            hooks.create_container(),
            hooks.start_container(),
            hooks.poststart(),
            hooks.poststop(),
        ];
        for h in all.into_iter().flatten().flatten() {
            if !h.path().is_absolute() {
                return Err(bad(format!("hook path {:?} is not absolute", h.path())));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(bad(format!(
                    "hook {:?}: timeout must be positive",
                    h.path()
                )));
            }
        }
    }
    Ok(rootfs)
}

/// Namespaced sysctls need the matching namespace, as in runc: a sysctl
/// written without it would change the host.
fn validate_sysctl(key: &str, has_ns: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<(), String> {
    // The key becomes a path below /proc/sys: no empty, "." or ".."
    // components, no slashes of its own.
    if key.is_empty() || key.contains('/') || key.split('.').any(|c| c.is_empty()) {
        return Err(format!("sysctl {key:?} is not a valid name"));
    }
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        if !has_ns(LinuxNamespaceType::Ipc) {
            return Err(format!("sysctl {key:?} needs an IPC namespace"));
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !has_ns(LinuxNamespaceType::Network) {
            return Err(format!("sysctl {key:?} needs a network namespace"));
        }
        return Ok(());
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if !has_ns(LinuxNamespaceType::Uts) {
            return Err(format!("sysctl {key:?} needs a UTS namespace"));
        }
        return Ok(());
    }
    Err(format!(
        "sysctl {key:?} is not namespaced and cannot be set in a container"
    ))
}

/// The config.json `onggi-runtime spec` writes: runc's defaults, so tools
/// written against `runc spec` work unchanged.
pub fn default_spec(rootless: bool, uid: u32, gid: u32) -> serde_json::Value {
    use serde_json::json;
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "onggi",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        // As runc: a user namespace mapping the caller to root, the host's
        // network (a new one would have no connectivity), /sys bound from the
        // host (sysfs cannot be mounted without a network namespace), and no
        // cgroup settings (the caller usually cannot write cgroups).
        let linux = &mut spec["linux"];
        linux["namespaces"] = json!([
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
            {"type": "cgroup"}, {"type": "user"}
        ]);
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        if let Some(obj) = linux.as_object_mut() {
            obj.remove("resources");
        }
        let mounts = spec["mounts"].as_array_mut().expect("literal array");
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            if m["destination"] == "/dev/pts" {
                m["options"] = json!([
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620"
                ]);
            }
        }
        mounts.retain(|m| m["destination"] != "/sys/fs/cgroup");
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(version_supported("1.0.0"));
        assert!(version_supported("1.0.2-dev"));
        assert!(version_supported("1.2.1"));
        assert!(version_supported("1.3.0"));
        assert!(!version_supported("1.4.0"));
        assert!(!version_supported("2.0.0"));
        assert!(!version_supported("0.9.0"));
        assert!(!version_supported("invalid"));
        assert!(!version_supported("1.0"));
    }

    #[test]
    fn default_spec_parses_as_spec() {
        for rootless in [false, true] {
            let v = default_spec(rootless, 1000, 1000);
            let spec: Spec = serde_json::from_value(v).expect("default spec must parse");
            assert_eq!(spec.version(), OCI_VERSION);
        }
    }

    fn bundle_with(config: serde_json::Value) -> (tempfile::TempDir, Result<Bundle>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("rootfs")).expect("mkdir");
        std::fs::write(dir.path().join("config.json"), config.to_string()).expect("write");
        let b = Bundle::load(dir.path());
        (dir, b)
    }

    #[test]
    fn rejects_bad_configs() {
        let good = default_spec(false, 0, 0);
        assert!(bundle_with(good.clone()).1.is_ok());

        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(&str, Edit, &str)> = vec![
            (
                "version",
                Box::new(|v| v["ociVersion"] = "9.0.0".into()),
                "unsupported ociVersion",
            ),
            (
                "rootfs",
                Box::new(|v| v["root"]["path"] = "nope".into()),
                "rootfs",
            ),
            (
                "args",
                Box::new(|v| v["process"]["args"] = serde_json::json!([])),
                "args",
            ),
            (
                "cwd",
                Box::new(|v| v["process"]["cwd"] = "rel".into()),
                "cwd",
            ),
            (
                "ns type",
                Box::new(|v| v["linux"]["namespaces"][0]["type"] = "bogus".into()),
                "cannot parse",
            ),
            (
                "dup ns",
                Box::new(|v| {
                    v["linux"]["namespaces"]
                        .as_array_mut()
                        .unwrap()
                        .push(serde_json::json!({"type": "pid"}))
                }),
                "twice",
            ),
            (
                "cap",
                Box::new(|v| {
                    v["process"]["capabilities"]["bounding"] = serde_json::json!(["CAP_TEST"])
                }),
                "cannot parse",
            ),
            (
                "hostname without uts",
                Box::new(|v| {
                    v["linux"]["namespaces"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|n| n["type"] != "uts")
                }),
                "UTS",
            ),
            (
                "sysctl",
                Box::new(|v| v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"})),
                "not namespaced",
            ),
            (
                "sysctl path",
                Box::new(|v| v["linux"]["sysctl"] = serde_json::json!({"net/../../etc": "1"})),
                "not a valid name",
            ),
        ];
        for (name, edit, want) in cases {
            let mut cfg = good.clone();
            edit(&mut cfg);
            let err = bundle_with(cfg).1.expect_err(name).to_string();
            assert!(err.contains(want), "{name}: {err}");
            assert!(err.contains("config.json"), "{name}: {err}");
        }
    }

    #[test]
    fn broken_json_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.json"), "{not json").expect("write");
        let err = Bundle::load(dir.path()).expect_err("broken").to_string();
        assert!(
            err.contains("config.json") && err.contains("cannot parse"),
            "{err}"
        );
        let missing = Bundle::load(&dir.path().join("nope"))
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("config.json"), "{missing}");
    }
}
