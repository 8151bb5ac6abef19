//! Harness for the adversarial security tests (tests/security_*.rs).
//!
//! Each test gets an `Env`: its own temp dir (bundles, crafted rootfs,
//! host-side "victim" files) and its own `--root` state dir. Dropping the
//! Env (also on panic) kills and force-deletes every container it named and
//! lazily unmounts anything still mounted below the temp dir.
#![allow(dead_code)]

use std::cell::RefCell;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BUSYBOX: &str = "/bin/busybox";
const APPLETS: &[&str] = &[
    "sh",
    "ls",
    "cat",
    "echo",
    "sleep",
    "touch",
    "readlink",
    "stat",
    "test",
    "[",
    "mkdir",
    "pwd",
    "grep",
    "true",
    "false",
    "sha256sum",
    "cp",
    "dd",
    "head",
    "wc",
    "find",
    "ln",
    "rm",
    "id",
    "mount",
    "printf",
    "basename",
    "tr",
];

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bin: PathBuf,
    ids: RefCell<Vec<String>>,
}

pub fn runtime_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_onggi-runtime"))
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("onggi-sec-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().join("state");
        std::fs::create_dir(&root).expect("state root");
        Env {
            dir,
            root,
            bin: runtime_bin(),
            ids: RefCell::new(Vec::new()),
        }
    }

    /// Run a private copy of the runtime binary (attacks may write to it).
    pub fn use_runtime_copy(&mut self) -> PathBuf {
        let dir = self.path().join("runtime-bin");
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("onggi-runtime");
        std::fs::copy(runtime_bin(), &copy).expect("copy runtime");
        self.bin = copy.clone();
        copy
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A unique container id, remembered for cleanup.
    pub fn id(&self, tag: &str) -> String {
        let id = format!(
            "sec-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// A bundle `<tmp>/<name>` with a busybox rootfs and a default config
    /// running `args`.
    pub fn bundle(&self, name: &str, args: &[&str]) -> Bundle {
        let dir = self.path().join(name);
        let rootfs = dir.join("rootfs");
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dirs");
        }
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
        for a in APPLETS {
            symlink("busybox", rootfs.join("bin").join(a)).expect("applet link");
        }
        Bundle {
            dir,
            rootfs,
            config: default_config(args),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// Run the runtime with these arguments; collect its output.
    pub fn rt(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        output_with_timeout(c, Duration::from_secs(60))
    }

    /// `run` a bundle in the foreground: (exit ok, stdout, stderr).
    pub fn run(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        Out::from(self.rt(&["run", "--bundle", b.dir.to_str().unwrap(), id]))
    }

    /// `create` a bundle (the init then waits at the start barrier).
    pub fn create(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        Out::from(self.rt(&["create", "--bundle", b.dir.to_str().unwrap(), id]))
    }

    /// `run --detach`.
    pub fn run_detached(&self, b: &Bundle, id: &str) -> Out {
        b.write();
        Out::from(self.rt(&["run", "--detach", "--bundle", b.dir.to_str().unwrap(), id]))
    }

    /// The init pid from `state`.
    pub fn pid(&self, id: &str) -> i32 {
        let o = Out::from(self.rt(&["state", id]));
        assert!(o.ok, "state {id}: {}", o.stderr);
        let v: Value = serde_json::from_str(&o.stdout).expect("state json");
        v["pid"].as_i64().expect("pid") as i32
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Always the built binary: a test may have broken its copy.
        for id in self.ids.borrow().iter() {
            for args in [
                &["kill", id.as_str(), "KILL"][..],
                &["delete", "--force", id.as_str()][..],
            ] {
                let _ = Command::new(runtime_bin())
                    .arg("--root")
                    .arg(&self.root)
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        unmount_below(self.dir.path());
    }
}

/// Lazily unmount every mount point below `dir` (deepest first).
pub fn unmount_below(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix_umount(&p);
    }
}

fn nix_umount(p: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: valid C string.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn write(&self) {
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .expect("config.json");
    }
    pub fn dir_str(&self) -> &str {
        self.dir.to_str().unwrap()
    }
    pub fn add_mount(&mut self, m: Value) {
        self.config["mounts"].as_array_mut().unwrap().push(m);
    }
}

#[derive(Debug)]
pub struct Out {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            ok: o.status.success(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Run with a deadline: a hung runtime fails the test instead of CI.
/// stdout/stderr go to files, not pipes: a detached container inherits
/// them and would otherwise hold a pipe open forever.
pub fn output_with_timeout(mut c: Command, limit: Duration) -> Output {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let base = std::env::temp_dir().join(format!("onggi-sec-out-{}-{n}", std::process::id()));
    let (po, pe) = (base.with_extension("out"), base.with_extension("err"));
    c.stdout(std::fs::File::create(&po).expect("stdout file"));
    c.stderr(std::fs::File::create(&pe).expect("stderr file"));
    let mut child = c.spawn().expect("spawn runtime");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait runtime") {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(&pe).unwrap_or_default();
            let _ = std::fs::remove_file(&po);
            let _ = std::fs::remove_file(&pe);
            panic!("runtime did not finish within {limit:?}: {err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read(&po).unwrap_or_default();
    let stderr = std::fs::read(&pe).unwrap_or_default();
    let _ = std::fs::remove_file(&po);
    let _ = std::fs::remove_file(&pe);
    Output {
        status,
        stdout,
        stderr,
    }
}

/// runc's default config, with a busybox PATH and no terminal.
pub fn default_config(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "sec",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// sha256 of a file, through the host's sha256sum.
pub fn sha256(p: &Path) -> String {
    let o = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Poll until `f` is true or the deadline passes.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Every entry below `dir` (recursive), as paths relative to it.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}
