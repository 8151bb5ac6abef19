//! Shared harness for the black-box runtime tests: bundles with a busybox
//! rootfs, a per-test state root, and a guard that force-deletes every
//! container a test created and checks that nothing was left behind.
//!
//! Every test file does `mod common;`; not every file uses every helper.
#![allow(dead_code)]

use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BUSYBOX: &str = "/bin/busybox";
pub const RUNC: &str = "/usr/sbin/runc";

/// The runtime under test.
pub fn runtime() -> &'static str {
    env!("CARGO_BIN_EXE_onggi-runtime")
}

/// How long a single runtime command may take before the test fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);

/// Output of one command.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// Panic with the whole output unless the command succeeded.
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "command failed: {self}");
        self
    }

    /// Panic unless the command failed with status 1 and a message on
    /// stderr containing every one of `words` (case-insensitive).
    #[track_caller]
    pub fn fails_with(&self, words: &[&str]) -> &Self {
        assert_eq!(self.code, 1, "expected exit status 1: {self}");
        let err = self.stderr.to_lowercase();
        for w in words {
            assert!(
                err.contains(&w.to_lowercase()),
                "stderr should mention {w:?}: {self}"
            );
        }
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run a command with stdin from /dev/null and stdout/stderr into files
/// (not pipes: a detached container inherits them and would keep a pipe
/// open), with a timeout. Killed by signal N reads as 128+N.
pub fn run_cmd(cmd: &mut Command, timeout: Duration) -> Out {
    let dir = tempfile::tempdir().expect("tempdir for output");
    let out_p = dir.path().join("out");
    let err_p = dir.path().join("err");
    cmd.stdout(fs::File::create(&out_p).expect("out file"));
    cmd.stderr(fs::File::create(&err_p).expect("err file"));
    cmd.stdin(Stdio::null());
    // Keep a runtime panic's output short.
    cmd.env("RUST_BACKTRACE", "0");
    let desc = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = fs::read_to_string(&out_p).unwrap_or_default();
            let stderr = fs::read_to_string(&err_p).unwrap_or_default();
            panic!("timed out after {timeout:?}: {desc}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    Out {
        code,
        stdout: String::from_utf8_lossy(&fs::read(&out_p).unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&fs::read(&err_p).unwrap_or_default()).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// Root filesystem and default config
// ---------------------------------------------------------------------------

struct Master {
    busybox: PathBuf,
    applets: Vec<String>,
}

static MASTER_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Statics are never dropped: remove the master copy when the test
/// binary exits.
extern "C" fn remove_master() {
    if let Some(d) = MASTER_DIR.get() {
        let _ = fs::remove_dir_all(d);
    }
}

/// One copy of busybox per test binary; every rootfs hardlinks it.
fn master() -> &'static Master {
    static M: OnceLock<Master> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("onggi-rt-master")
            .tempdir()
            .expect("tempdir")
            .keep();
        MASTER_DIR.set(dir.clone()).ok();
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(remove_master) };
        let busybox = dir.join("busybox");
        fs::copy(BUSYBOX, &busybox).expect("copy busybox");
        fs::set_permissions(&busybox, fs::Permissions::from_mode(0o755)).expect("chmod");
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        let applets = String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "busybox")
            .collect();
        Master { busybox, applets }
    })
}

/// Fill `rootfs` with busybox, one symlink per applet in /bin, /etc/passwd,
/// /etc/group, and /tmp 1777. Every directory is 0755 so that mapped ids of
/// a user namespace can read it.
pub fn make_rootfs(rootfs: &Path) {
    let m = master();
    for d in [
        "bin",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "root",
        "home/user",
        "var",
        "mnt",
    ] {
        fs::create_dir_all(rootfs.join(d)).expect("mkdir in rootfs");
    }
    let bb = rootfs.join("bin/busybox");
    if fs::hard_link(&m.busybox, &bb).is_err() {
        fs::copy(&m.busybox, &bb).expect("copy busybox");
    }
    for a in &m.applets {
        symlink("busybox", rootfs.join("bin").join(a)).expect("applet symlink");
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
         user:x:1000:1000:user:/home/user:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("passwd");
    fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ndaemon:x:1:\nuser:x:1000:\nextra:x:2000:user\nnogroup:x:65534:\n",
    )
    .expect("group");
    fs::write(rootfs.join("etc/hostname"), "rootfs\n").expect("hostname");
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))
        .expect("chmod /tmp");
}

/// What the config generator was: `onggi-runtime spec`, or `runc spec` if
/// that failed (reported on stderr once so the failure is not hidden).
static SPEC_SOURCE: OnceLock<&'static str> = OnceLock::new();

/// The default config.json, generated once per test binary.
pub fn default_config() -> Value {
    static C: OnceLock<Value> = OnceLock::new();
    C.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run_cmd(
            Command::new(runtime())
                .arg("spec")
                .arg("--bundle")
                .arg(dir.path()),
            CMD_TIMEOUT,
        );
        let path = dir.path().join("config.json");
        if out.ok() && path.exists() {
            SPEC_SOURCE.set("onggi-runtime spec").ok();
            return serde_json::from_slice(&fs::read(&path).expect("read spec"))
                .expect("spec is JSON");
        }
        eprintln!(
            "WARNING: `onggi-runtime spec` failed, the harness falls back to `runc spec`: {out}"
        );
        let _ = fs::remove_file(&path);
        run_cmd(
            Command::new(RUNC)
                .arg("spec")
                .arg("--bundle")
                .arg(dir.path()),
            CMD_TIMEOUT,
        )
        .success();
        SPEC_SOURCE.set("runc spec").ok();
        let mut v: Value = serde_json::from_slice(&fs::read(&path).expect("read runc spec"))
            .expect("runc spec is JSON");
        v["ociVersion"] = json!("1.3.0");
        // onggi's default has the cgroup namespace, as runc 1.2+ does.
        v["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .push(json!({"type": "cgroup"}));
        v
    })
    .clone()
}

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

/// A bundle directory: rootfs/ plus config.json written by `save`.
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub config: Value,
}

impl Bundle {
    /// Busybox rootfs; config from `spec` with terminal off, a writable
    /// root, and `sh -c true` as the process.
    pub fn new() -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("onggi-rt-bundle")
            .tempdir()
            .expect("bundle dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod bundle");
        make_rootfs(&dir.path().join("rootfs"));
        let mut config = default_config();
        config["process"]["terminal"] = json!(false);
        config["root"]["readonly"] = json!(false);
        config["process"]["args"] = json!(["sh", "-c", "true"]);
        let b = Bundle { dir, config };
        b.save();
        b
    }

    /// A bundle whose process is `sh -c SCRIPT`.
    pub fn sh(script: &str) -> Bundle {
        let mut b = Bundle::new();
        b.set_sh(script);
        b
    }

    pub fn set_sh(&mut self, script: &str) -> &mut Self {
        self.config["process"]["args"] = json!(["sh", "-c", script]);
        self.save();
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Write `config` to config.json. Every mutator calls it; tests that
    /// edit `config` directly call it themselves.
    pub fn save(&self) {
        fs::write(
            self.config_path(),
            serde_json::to_string_pretty(&self.config).expect("json"),
        )
        .expect("write config");
    }

    /// Edit the config and save it.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.save();
        self
    }

    pub fn namespaces(&self) -> Vec<String> {
        self.config["linux"]["namespaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n["type"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Add (or replace) a namespace entry.
    pub fn add_ns(&mut self, ns: Value) -> &mut Self {
        let typ = ns["type"].clone();
        let arr = self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces");
        arr.retain(|n| n["type"] != typ);
        arr.push(ns);
        self.save();
        self
    }

    pub fn remove_ns(&mut self, typ: &str) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces")
            .retain(|n| n["type"] != typ);
        self.save();
        self
    }

    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts")
            .push(m);
        self.save();
        self
    }

    /// Bind-mount a host directory read-write at `dest`.
    pub fn bind(&mut self, host: &Path, dest: &str) -> &mut Self {
        self.add_mount(json!({"destination": dest, "type": "bind", "source": host, "options": ["rbind", "rw"]}))
    }

    pub fn add_hook(&mut self, kind: &str, hook: Value) -> &mut Self {
        if !self.config["hooks"].is_object() {
            self.config["hooks"] = json!({});
        }
        if !self.config["hooks"][kind].is_array() {
            self.config["hooks"][kind] = json!([]);
        }
        self.config["hooks"][kind]
            .as_array_mut()
            .expect("hooks")
            .push(hook);
        self.save();
        self
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new()
    }
}

/// A host directory the container can write into (0777, so mapped users
/// can too).
pub fn shared_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("onggi-rt-shared")
        .tempdir()
        .expect("shared dir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o777)).expect("chmod shared");
    d
}

// ---------------------------------------------------------------------------
// Per-test context: state root, ids, cleanup
// ---------------------------------------------------------------------------

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's view of the runtime: its own `--root`, the ids it created.
/// On drop (also on panic) every id is `delete --force`d and the state dir,
/// cgroup dirs and init process are checked to be gone.
pub struct Ctx {
    pub root: tempfile::TempDir,
    ids: RefCell<Vec<String>>,
    pids: RefCell<Vec<i32>>,
    cgroups: RefCell<Vec<PathBuf>>,
}

impl Ctx {
    pub fn new() -> Ctx {
        let root = tempfile::Builder::new()
            .prefix("onggi-rt-root")
            .tempdir()
            .expect("state root");
        Ctx {
            root,
            ids: RefCell::new(Vec::new()),
            pids: RefCell::new(Vec::new()),
            cgroups: RefCell::new(Vec::new()),
        }
    }

    /// A fresh unique id (pid + counter + tag), remembered for cleanup.
    /// The default cgroup of such a container ("<id>" under each of our
    /// controllers) is remembered too.
    pub fn id(&self, tag: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("rt{}-{}-{}", std::process::id(), n, tag);
        self.track(&id);
        for d in cgroup_dirs(&id) {
            self.track_cgroup(d);
        }
        id
    }

    /// Remember an id chosen by the test itself.
    pub fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    /// Remember a cgroup directory the test expects the runtime to create
    /// (checked and removed on drop).
    pub fn track_cgroup(&self, dir: PathBuf) {
        self.cgroups.borrow_mut().push(dir);
    }

    pub fn track_pid(&self, pid: i32) {
        self.pids.borrow_mut().push(pid);
    }

    pub fn root_path(&self) -> &Path {
        self.root.path()
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(runtime());
        c.arg("--root").arg(self.root.path());
        c
    }

    /// `onggi-runtime --root ROOT ARGS...`
    pub fn rt(&self, args: &[&str]) -> Out {
        let mut c = self.cmd();
        c.args(args);
        run_cmd(&mut c, CMD_TIMEOUT)
    }

    /// `run --bundle B ID` in the foreground.
    pub fn run(&self, b: &Bundle, id: &str) -> Out {
        let mut c = self.cmd();
        c.arg("run").arg("--bundle").arg(b.path()).arg(id);
        run_cmd(&mut c, CMD_TIMEOUT)
    }

    /// Run `sh -c SCRIPT` in a fresh bundle and container; return output.
    pub fn run_sh(&self, script: &str) -> Out {
        let b = Bundle::sh(script);
        let id = self.id("sh");
        self.run(&b, &id)
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Out {
        let mut c = self.cmd();
        c.arg("create").arg("--bundle").arg(b.path()).arg(id);
        let out = run_cmd(&mut c, CMD_TIMEOUT);
        if out.ok() {
            if let Some(p) = self.try_state(id).and_then(|s| s["pid"].as_i64()) {
                self.track_pid(p as i32);
            }
        }
        out
    }

    pub fn start(&self, id: &str) -> Out {
        self.rt(&["start", id])
    }

    pub fn state(&self, id: &str) -> Value {
        let out = self.rt(&["state", id]);
        out.success();
        out.json()
    }

    pub fn try_state(&self, id: &str) -> Option<Value> {
        let out = self.rt(&["state", id]);
        if out.ok() {
            serde_json::from_str(&out.stdout).ok()
        } else {
            None
        }
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().expect("pid in state") as i32
    }

    /// Poll `state` until the status is `want` (or time out).
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status(id);
            if s == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} is {s}, not {want}, after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn delete(&self, id: &str, force: bool) -> Out {
        if force {
            self.rt(&["delete", "--force", id])
        } else {
            self.rt(&["delete", id])
        }
    }

    /// `create` + `start` a long-running container; return its init pid.
    pub fn create_started(&self, b: &Bundle, id: &str) -> i32 {
        self.create(b, id).success();
        self.start(id).success();
        let pid = self.pid(id);
        self.track_pid(pid);
        pid
    }

    /// Is there nothing left of container `id`: no state dir, no cgroup dirs.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut left = Vec::new();
        if self.root.path().join(id).exists() {
            left.push(format!("state dir {}", self.root.path().join(id).display()));
        }
        for d in cgroup_dirs(id) {
            if d.exists() {
                left.push(format!("cgroup dir {}", d.display()));
            }
        }
        left
    }

    #[track_caller]
    pub fn assert_no_leftovers(&self, id: &str) {
        let left = self.leftovers(id);
        assert!(left.is_empty(), "container {id} left behind: {left:?}");
    }
}

impl Default for Ctx {
    fn default() -> Self {
        Ctx::new()
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        let ids = self.ids.borrow().clone();
        for id in &ids {
            if let Some(s) = self.try_state(id) {
                if let Some(p) = s["pid"].as_i64().filter(|p| *p > 0) {
                    self.pids.borrow_mut().push(p as i32);
                }
            }
            if self.root.path().join(id).exists() {
                let out = self.rt(&["delete", "--force", id]);
                if !out.ok() {
                    problems.push(format!("delete --force {id}: {out}"));
                }
            }
            if self.root.path().join(id).exists() {
                problems.push(format!("state dir of {id} left after delete --force"));
                let _ = fs::remove_dir_all(self.root.path().join(id));
            }
        }
        // Processes: the init pids we saw must be gone (or zombies waiting
        // for a reaper that is not us).
        for pid in self.pids.borrow().iter() {
            if wait_pid_gone(*pid, Duration::from_secs(5)) {
                continue;
            }
            problems.push(format!("process {pid} still alive"));
            // SAFETY: kill with a pid this test created through the runtime.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        // Cgroups: the runtime must have removed them; remove leftovers so
        // later runs are not disturbed.
        for d in self.cgroups.borrow().iter() {
            if d.exists() {
                problems.push(format!("cgroup dir {} left", d.display()));
                remove_cgroup(d);
            }
        }
        if !problems.is_empty() && !std::thread::panicking() {
            panic!("cleanup found leftovers:\n{}", problems.join("\n"));
        } else if !problems.is_empty() {
            eprintln!(
                "cleanup (after a failure) found leftovers:\n{}",
                problems.join("\n")
            );
        }
    }
}

/// Is `pid` gone (or a zombie)? Waits up to `timeout`.
pub fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !pid_alive(pid) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let st = s.rfind(')').and_then(|i| s[i + 2..].chars().next());
            !matches!(st, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------
// cgroups (v1 hybrid)
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

/// The line of `text` starting with `key` (e.g. "CapEff:"), value trimmed.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

/// Capability names -> the hex mask /proc/PID/status shows.
pub fn cap_mask(names: &[&str]) -> String {
    let mut mask = 0u64;
    for n in names {
        let bit = cap_number(n).unwrap_or_else(|| panic!("unknown capability {n}"));
        mask |= 1 << bit;
    }
    format!("{mask:016x}")
}

pub fn cap_number(name: &str) -> Option<u32> {
    const NAMES: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES.iter().position(|n| *n == name).map(|p| p as u32)
}

/// The source of the default config (for messages).
pub fn spec_source() -> &'static str {
    let _ = default_config();
    SPEC_SOURCE.get().copied().unwrap_or("?")
}

// ---------------------------------------------------------------------------
// Helpers for exec, terminals and the cgroup commands
// ---------------------------------------------------------------------------

/// Wait until `path` exists (true) or `timeout` passes (false).
pub fn wait_for_file(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    path.exists()
}

/// Wait until `path` holds something that `done` accepts; returns the last
/// content read.
pub fn wait_for_content(path: &Path, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let s = fs::read_to_string(path).unwrap_or_default();
        if done(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Receive one fd sent with SCM_RIGHTS on `sock` (runc's console-socket
/// protocol).
pub fn recv_scm_fd(sock: &std::os::unix::net::UnixStream) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr with valid buffers; CMSG macros on that buffer; we
    // take ownership of the fd the kernel installed for us.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        if libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) < 0 {
            return None;
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() || (*cmsg).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32);
        Some(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// A console socket: a listening unix socket whose first connection's
/// SCM_RIGHTS fd (the pty master) is received by a thread.
pub struct ConsoleSocket {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    rx: std::sync::mpsc::Receiver<Option<std::os::fd::OwnedFd>>,
}

impl ConsoleSocket {
    pub fn new() -> ConsoleSocket {
        let dir = tempfile::Builder::new()
            .prefix("onggi-rt-console")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind console socket");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let got = listener.accept().ok().and_then(|(c, _)| recv_scm_fd(&c));
            let _ = tx.send(got);
        });
        ConsoleSocket {
            _dir: dir,
            path,
            rx,
        }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }

    /// The received master (panics if nothing came within `timeout`).
    #[track_caller]
    pub fn master(&self, timeout: Duration) -> fs::File {
        match self.rx.recv_timeout(timeout) {
            Ok(Some(fd)) => fs::File::from(fd),
            Ok(None) => panic!("console socket: a connection but no fd"),
            Err(_) => panic!("console socket: no pty master within {timeout:?}"),
        }
    }
}

impl Default for ConsoleSocket {
    fn default() -> Self {
        ConsoleSocket::new()
    }
}

/// Read from a pty master (on a thread) until `want` appears in the text
/// read, EOF/EIO, or `timeout`; returns everything read.
pub fn read_until(master: &fs::File, want: &str, timeout: Duration) -> String {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + timeout;
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let mut f = master;
    loop {
        if String::from_utf8_lossy(&all).contains(want) {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(100) as i32) };
        if r <= 0 {
            continue;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

impl Ctx {
    /// `exec ID ARGS...` (ARGS may start with exec flags), with a timeout
    /// of 10 s (the commands tests exec are quick).
    pub fn exec(&self, id: &str, args: &[&str]) -> Out {
        let mut c = self.cmd();
        c.arg("exec").arg(id).args(args);
        run_cmd(&mut c, Duration::from_secs(10))
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
