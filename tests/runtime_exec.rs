//! `exec`: a new process in a running container. Output and status,
//! namespaces, cgroup, the runc flags, detach, terminals, and that the
//! container's seccomp filter, capabilities and rlimits apply.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn status_of(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

#[test]
fn exec_output_and_exit_status() {
    let ctx = Ctx::new();
    let (_b, id, _) = ctx.sleeper("exout", |_| {});
    let out = ctx.exec(&id, &["sh", "-c", "echo to-out; echo to-err >&2; exit 5"]);
    assert_eq!(out.code, 5, "{out}");
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert!(out.stderr.contains("to-err"), "{out}");
    ctx.exec(&id, &["true"]).success();
    // Killed by a signal: 128+N, as runc.
    let out = ctx.exec(&id, &["sh", "-c", "kill -TERM $$; sleep 5"]);
    assert_eq!(out.code, 143, "{out}");
    // A missing command is the runtime's error, not a hang.
    let out = ctx.exec(&id, &["/no/such/cmd"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("/no/such/cmd"), "{out}");
    assert_eq!(ctx.status(&id), "running", "exec must not disturb the init");
}

#[test]
fn exec_joins_every_namespace_of_the_container() {
    let ctx = Ctx::new();
    let (b, id, init) = ctx.sleeper("exns", |_| {});
    let script = "for n in cgroup ipc mnt net pid uts user; do \
                  echo $n $(readlink /proc/$$/ns/$n) $(readlink /proc/1/ns/$n); done";
    let out = ctx.exec(&id, &["sh", "-c", script]);
    out.success();
    let mut seen = 0;
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 3, "{out}");
        let host = fs::read_link(format!("/proc/{init}/ns/{}", f[0]))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            f[1], host,
            "exec'd process vs the init's {} namespace: {out}",
            f[0]
        );
        assert_eq!(
            f[2], host,
            "/proc/1 in the container is not the init: {out}"
        );
        seen += 1;
    }
    assert_eq!(seen, 7, "{out}");
    // Every namespace the config asks for is a new one, so joining is visible.
    for ns in b.namespaces() {
        let n = match ns.as_str() {
            "mount" => "mnt",
            "network" => "net",
            o => o,
        };
        let ours = fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
        let theirs = fs::read_link(format!("/proc/{init}/ns/{n}")).unwrap();
        assert_ne!(
            ours, theirs,
            "{n}: the container did not get its own namespace"
        );
    }
}

#[test]
fn exec_is_in_the_containers_cgroup() {
    let ctx = Ctx::new();
    let (_b, id, init) = ctx.sleeper("excg", |_| {});
    let out = ctx.exec(
        &id,
        &[
            "sh",
            "-c",
            "cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup",
        ],
    );
    out.success();
    let (mine, inits) = out.stdout.split_once("---\n").expect("separator");
    assert_eq!(mine, inits, "exec'd process and init in different cgroups");
    // And seen from the host: both in the same cgroups, and that is the
    // container's (not ours).
    let host_init = fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    let ours = fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_ne!(host_init, ours);
}

#[test]
fn exec_process_json() {
    let ctx = Ctx::new();
    let (b, id, _) = ctx.sleeper("exjson", |_| {});
    let p = b.path().join("process.json");
    fs::write(
        &p,
        json!({
            "terminal": false,
            "user": {"uid": 1000, "gid": 1000},
            "args": ["sh", "-c", "echo $FOO; pwd; id -u; id -g"],
            "env": ["PATH=/bin", "FOO=from-json"],
            "cwd": "/tmp",
        })
        .to_string(),
    )
    .unwrap();
    let out = ctx.exec(&id, &["--process", p.to_str().unwrap()]);
    out.success();
    assert_eq!(out.stdout, "from-json\n/tmp\n1000\n1000\n", "{out}");
    // A broken process.json is a clear error.
    fs::write(&p, "{\"args\": [").unwrap();
    let out = ctx.exec(&id, &["--process", p.to_str().unwrap()]);
    out.fails_with(&["process.json"]);
}

#[test]
fn exec_cwd_and_env_override_the_config() {
    let ctx = Ctx::new();
    let (_b, id, _) = ctx.sleeper("exenv", |c| {
        c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FOO=config", "KEEP=yes"]);
    });
    let out = ctx.exec(
        &id,
        &[
            "--cwd",
            "/tmp",
            "--env",
            "FOO=cli",
            "-e",
            "NEW=1",
            "sh",
            "-c",
            "pwd; echo $FOO $KEEP $NEW; env | grep -c ^FOO=",
        ],
    );
    out.success();
    assert_eq!(out.stdout, "/tmp\ncli yes 1\n1\n", "{out}");
    // Without flags: the config's cwd (/) and env.
    let out = ctx.exec(&id, &["sh", "-c", "pwd; echo $FOO $KEEP"]);
    out.success();
    assert_eq!(out.stdout, "/\nconfig yes\n", "{out}");
}

#[test]
fn exec_user_and_additional_gids() {
    let ctx = Ctx::new();
    let (_b, id, _) = ctx.sleeper("exuser", |_| {});
    let out = ctx.exec(
        &id,
        &[
            "--user",
            "1000:1000",
            "--additional-gids",
            "2000",
            "-g",
            "3000",
            "sh",
            "-c",
            "id -u; id -g; grep ^Groups: /proc/self/status",
        ],
    );
    out.success();
    let l = out.lines();
    assert_eq!(&l[..2], ["1000", "1000"], "{out}");
    let groups: Vec<&str> = l[2]
        .trim_start_matches("Groups:")
        .split_whitespace()
        .collect();
    assert!(
        groups.contains(&"2000") && groups.contains(&"3000"),
        "supplementary groups: {out}"
    );
    // uid only: gid from the config (0).
    let out = ctx.exec(&id, &["--user", "1000", "sh", "-c", "id -u; id -g"]);
    out.success();
    assert_eq!(out.stdout, "1000\n0\n", "{out}");
    // Not a number.
    let out = ctx.exec(&id, &["--user", "nosuch:x", "true"]);
    out.fails_with(&["user"]);
}

#[test]
fn exec_cap_adds_a_capability_and_defaults_are_the_containers() {
    let ctx = Ctx::new();
    let (_b, id, init) = ctx.sleeper("excap", |_| {});
    let sys_admin = 1u64 << cap_number("CAP_SYS_ADMIN").unwrap();
    let read = |out: &Out, key: &str| {
        u64::from_str_radix(
            field(&out.stdout, key).unwrap_or_else(|| panic!("{key}: {out}")),
            16,
        )
        .unwrap()
    };
    let plain = ctx.exec(&id, &["cat", "/proc/self/status"]);
    plain.success();
    let init_status = status_of(init);
    for key in ["CapBnd:", "CapEff:", "CapPrm:"] {
        assert_eq!(
            field(&plain.stdout, key),
            field(&init_status, key),
            "{key} of exec'd process vs init"
        );
    }
    assert_eq!(read(&plain, "CapEff:") & sys_admin, 0, "{plain}");
    let out = ctx.exec(&id, &["--cap", "CAP_SYS_ADMIN", "cat", "/proc/self/status"]);
    out.success();
    assert_ne!(
        read(&out, "CapEff:") & sys_admin,
        0,
        "--cap CAP_SYS_ADMIN: {out}"
    );
    assert_ne!(read(&out, "CapBnd:") & sys_admin, 0, "{out}");
    // It does what it says: SYS_ADMIN allows sethostname... in the uts ns.
    let out = ctx.exec(&id, &["--cap", "CAP_SYS_ADMIN", "hostname", "exec-cap"]);
    out.success();
    let out = ctx.exec(&id, &["--cap", "CAP_NO_SUCH", "true"]);
    out.fails_with(&["CAP_NO_SUCH"]);
}

#[test]
fn exec_no_new_privs() {
    let ctx = Ctx::new();
    let (_b, id, _) = ctx.sleeper("exnnp", |c| {
        c["process"]["noNewPrivileges"] = json!(false);
    });
    let out = ctx.exec(&id, &["grep", "^NoNewPrivs:", "/proc/self/status"]);
    out.success();
    assert_eq!(field(&out.stdout, "NoNewPrivs:"), Some("0"), "{out}");
    let out = ctx.exec(
        &id,
        &[
            "--no-new-privs",
            "grep",
            "^NoNewPrivs:",
            "/proc/self/status",
        ],
    );
    out.success();
    assert_eq!(field(&out.stdout, "NoNewPrivs:"), Some("1"), "{out}");
}

#[test]
fn exec_preserve_fds() {
    let ctx = Ctx::new();
    let (b, id, _) = ctx.sleeper("exfds", |_| {});
    let f3 = b.path().join("fd3");
    let f4 = b.path().join("fd4");
    fs::write(&f3, "preserved-fd-3\n").unwrap();
    fs::write(&f4, "fd-4\n").unwrap();
    let run = |n: &str| {
        let a = fs::File::open(&f3).unwrap();
        let c = fs::File::open(&f4).unwrap();
        let mut cmd = ctx.cmd();
        cmd.args([
            "exec",
            "--preserve-fds",
            n,
            &id,
            "sh",
            "-c",
            "cat <&3; if [ -e /proc/$$/fd/4 ]; then echo fd4-leaked; fi",
        ]);
        use std::os::fd::AsRawFd;
        let (ra, rc) = (a.as_raw_fd(), c.as_raw_fd());
        // SAFETY: fcntl/dup2 on fds we own, in the child before exec. The
        // files may already be fds 3 or 4 (dup2 onto itself would keep
        // CLOEXEC): move them out of the way first.
        unsafe {
            cmd.pre_exec(move || {
                let hi_a = libc::fcntl(ra, libc::F_DUPFD_CLOEXEC, 100);
                let hi_c = libc::fcntl(rc, libc::F_DUPFD_CLOEXEC, 100);
                if hi_a < 0 || hi_c < 0 || libc::dup2(hi_a, 3) < 0 || libc::dup2(hi_c, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        run_cmd(&mut cmd, Duration::from_secs(10))
    };
    let out = run("1");
    out.success();
    assert_eq!(out.stdout, "preserved-fd-3\n", "{out}");
    // Without the flag fd 3 is not passed on.
    let out = run("0");
    assert!(
        !out.stdout.contains("preserved-fd-3"),
        "fd 3 leaked without --preserve-fds: {out}"
    );
}

#[test]
fn exec_detach_with_pid_file() {
    let ctx = Ctx::new();
    let (b, id, init) = ctx.sleeper("exdet", |_| {});
    let pidfile = b.path().join("exec.pid");
    let t = Instant::now();
    let out = ctx.exec(
        &id,
        &[
            "--detach",
            "--pid-file",
            pidfile.to_str().unwrap(),
            "sleep",
            "31",
        ],
    );
    out.success();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "exec -d did not return"
    );
    let pid = ctx.tracked_pid_from(&pidfile);
    assert!(pid_alive(pid), "exec'd process {pid} is not running");
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(
        cmdline, b"sleep\x0031\x00",
        "pid file names another process"
    );
    for n in ["pid", "mnt", "net"] {
        assert_eq!(
            fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap(),
            fs::read_link(format!("/proc/{init}/ns/{n}")).unwrap(),
            "{n} namespace"
        );
    }
    // ps knows it, and so does every cgroup of the container.
    let ps = ctx.rt(&["ps", "--format", "json", &id]);
    ps.success();
    let pids: Vec<i64> = serde_json::from_str(&ps.stdout).expect("ps json");
    assert!(pids.contains(&(pid as i64)), "ps: {ps}");
    for d in cgroup_dirs(&id) {
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}",
            d.display()
        );
    }
    ctx.delete(&id, true).success();
    assert!(
        wait_pid_gone(pid, Duration::from_secs(5)),
        "delete --force left the exec'd process"
    );
}

#[test]
fn exec_tty_with_console_socket() {
    let ctx = Ctx::new();
    let (_b, id, _) = ctx.sleeper("extty", |_| {});
    let cs = ConsoleSocket::new();
    let mut cmd = ctx.cmd();
    cmd.args([
        "exec",
        "--tty",
        "--console-socket",
        cs.path_str(),
        &id,
        "sh",
    ]);
    let handle = std::thread::spawn(move || run_cmd(&mut cmd, Duration::from_secs(20)));
    let mut master = cs.master(Duration::from_secs(10));
    master
        .write_all(b"tty -s && echo is-tty; echo hi-$((2+3))\n")
        .unwrap();
    let text = read_until(&master, "hi-5", Duration::from_secs(10));
    assert!(text.contains("hi-5"), "read from the pty: {text:?}");
    assert!(text.contains("is-tty"), "stdin is not a tty: {text:?}");
    master.write_all(b"exit 4\n").unwrap();
    let out = handle.join().unwrap();
    assert_eq!(out.code, 4, "exec's exit status is the shell's: {out}");
    // --tty --detach needs a console socket.
    let out = ctx.exec(&id, &["--tty", "--detach", "sh"]);
    out.fails_with(&["console"]);
}

#[test]
fn exec_into_a_paused_container_fails_without_hanging() {
    let ctx = Ctx::new();
    let (_b, id, _) = ctx.sleeper("expause", |_| {});
    ctx.rt(&["pause", &id]).success();
    let mut cmd = ctx.cmd();
    cmd.args(["exec", &id, "echo", "should-not-run"]);
    let t = Instant::now();
    let out = run_cmd(&mut cmd, Duration::from_secs(10));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "exec took {:?}",
        t.elapsed()
    );
    out.fails_with(&["paused"]);
    assert!(!out.stdout.contains("should-not-run"), "{out}");
    ctx.rt(&["resume", &id]).success();
    let out = ctx.exec(&id, &["echo", "after-resume"]);
    out.success();
    assert_eq!(out.stdout, "after-resume\n");
}

#[test]
fn exec_into_a_stopped_container_fails() {
    let ctx = Ctx::new();
    let b = Bundle::sh("true");
    let id = ctx.id("exstop");
    ctx.create_started(&b, &id);
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    let out = ctx.exec(&id, &["echo", "should-not-run"]);
    out.fails_with(&["stopped"]);
    assert!(!out.stdout.contains("should-not-run"), "{out}");
    let out = ctx.exec("no-such-container-xyz", &["true"]);
    out.fails_with(&["does not exist"]);
}

#[test]
fn exec_gets_the_containers_seccomp_filter() {
    let ctx = Ctx::new();
    let (_b, id, _) = ctx.sleeper("exsecc", |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{
                "names": ["mkdir", "mkdirat"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 28
            }]
        });
    });
    let out = ctx.exec(&id, &["mkdir", "/tmp/denied"]);
    assert_ne!(out.code, 0, "mkdir was allowed: {out}");
    assert!(
        out.stderr.contains("No space left on device"),
        "mkdir should fail with the filter's errno (ENOSPC): {out}"
    );
    // Other syscalls are allowed.
    ctx.exec(&id, &["touch", "/tmp/allowed"]).success();
}

#[test]
fn exec_gets_the_containers_rlimits() {
    let ctx = Ctx::new();
    let (_b, id, init) = ctx.sleeper("exrlim", |c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "hard": 777, "soft": 555},
            {"type": "RLIMIT_CORE", "hard": 4096, "soft": 1024}
        ]);
    });
    let out = ctx.exec(&id, &["cat", "/proc/self/limits"]);
    out.success();
    let line = |text: &str, what: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with(what))
            .unwrap_or_else(|| panic!("{what} in {text}"))
            .trim_start_matches(what)
            .split_whitespace()
            .take(2)
            .map(String::from)
            .collect()
    };
    assert_eq!(line(&out.stdout, "Max open files"), ["555", "777"], "{out}");
    assert_eq!(
        line(&out.stdout, "Max core file size"),
        ["1024", "4096"],
        "{out}"
    );
    let init_limits = fs::read_to_string(format!("/proc/{init}/limits")).unwrap();
    assert_eq!(line(&init_limits, "Max open files"), ["555", "777"]);
}
