//! Running commands: the runtime binary, [`Out`] and [`run_cmd`].

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

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
    // Keep a runtime panic's output short, unless the test chose.
    if !cmd.get_envs().any(|(k, _)| k == "RUST_BACKTRACE") {
        cmd.env("RUST_BACKTRACE", "0");
    }
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
