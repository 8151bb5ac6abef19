//! Per-test context: state root, ids, cleanup.

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bundle::Bundle;
use super::cgroups::{cgroup_dirs, remove_cgroup};
use super::proc::wait_pid_gone;
use super::run::{run_cmd, runtime, Out, CMD_TIMEOUT};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's view of the runtime: its own `--root`, the ids it created.
/// On drop (also on panic) every id is `delete --force`d and its state files,
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

    /// The pid a runtime wrote to `pid_file`; the guard kills it at the end.
    pub fn tracked_pid_from(&self, pid_file: &std::path::Path) -> i32 {
        let pid: i32 = std::fs::read_to_string(pid_file)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid in the pid file");
        self.track_pid(pid);
        pid
    }

    /// A running container whose init sleeps (a `Bundle::sh` one, edited);
    /// returns (bundle, id, init pid).
    pub fn sleeper(
        &self,
        tag: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> (Bundle, String, i32) {
        let mut b = Bundle::sh("exec sleep 60");
        b.edit(edit);
        let id = self.id(tag);
        let pid = self.create_started(&b, &id);
        (b, id, pid)
    }

    /// `create` + `start` a long-running container; return its init pid.
    pub fn create_started(&self, b: &Bundle, id: &str) -> i32 {
        self.create(b, id).success();
        self.start(id).success();
        let pid = self.pid(id);
        self.track_pid(pid);
        pid
    }

    /// The container's files in the state root: `<id>.json`, `<id>.fifo`
    /// and the temporary file of a state write.
    pub fn state_files(&self, id: &str) -> Vec<PathBuf> {
        [".json", ".fifo", ".json.tmp"]
            .iter()
            .map(|s| self.root.path().join(format!("{id}{s}")))
            .filter(|p| p.exists())
            .collect()
    }

    /// Is there nothing left of container `id`: no state file, no cgroup dirs.
    pub fn leftovers(&self, id: &str) -> Vec<String> {
        let mut left = Vec::new();
        for p in self.state_files(id) {
            left.push(format!("state file {}", p.display()));
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
            if !self.state_files(id).is_empty() {
                let out = self.rt(&["delete", "--force", id]);
                if !out.ok() {
                    problems.push(format!("delete --force {id}: {out}"));
                }
            }
            for p in self.state_files(id) {
                problems.push(format!("{} left after delete --force", p.display()));
                let _ = fs::remove_file(p);
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

impl Ctx {
    /// `exec ID ARGS...` (ARGS may start with exec flags), with a timeout
    /// of 10 s (the commands tests exec are quick).
    pub fn exec(&self, id: &str, args: &[&str]) -> Out {
        let mut c = self.cmd();
        c.arg("exec").arg(id).args(args);
        run_cmd(&mut c, Duration::from_secs(10))
    }
}
