//! `exec`: what is executed. A program that cannot run fails with its
//! path named and the container untouched; the process is its own program
//! (not the runtime, nor the exec trampoline) with no fd of the runtime;
//! one that exits at once never hangs `exec`.

mod common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use common::*;

/// A process that exits at once, many times: the runtime must report its
/// status every time (a lost exit status shows as a hang).
#[test]
fn exec_of_a_process_that_exits_at_once_never_hangs() {
    let ctx = Ctx::new();
    let (_b, id, _) = ctx.sleeper("exfast", |_| {});
    // Two at a time: the race is likelier on a busy machine.
    std::thread::scope(|s| {
        for t in 0..2 {
            let (root, id) = (ctx.root_path(), &id);
            s.spawn(move || {
                for i in 0..25 {
                    let mut cmd = std::process::Command::new(runtime());
                    cmd.arg("--root").arg(root);
                    cmd.args(["exec", id, "sh", "-c", "exit 3"]);
                    let out = run_cmd(&mut cmd, Duration::from_secs(5));
                    assert_eq!(out.code, 3, "exec #{i} of thread {t}: {out}");
                }
            });
        }
    });
}

/// A program that cannot be exec'd fails `exec` (non-zero, the container
/// untouched) with a message naming it: missing or not executable (found
/// before the exec), or failing in execve itself, which the exec
/// trampoline reports on the channel as a record `exec` decodes.
#[test]
fn exec_failures_name_the_program() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = Ctx::new();
    let (b, id, _) = ctx.sleeper("exbad", |_| {});
    let root = b.rootfs();
    fs::write(root.join("garbage"), "no shebang, no ELF\n").unwrap();
    fs::set_permissions(root.join("garbage"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("notexec"), "#!/bin/sh\necho ran\n").unwrap();
    fs::set_permissions(root.join("notexec"), fs::Permissions::from_mode(0o644)).unwrap();
    for (prog, want) in [
        ("/no/such/cmd", "\"/no/such/cmd\""),
        ("/notexec", "\"/notexec\""),
        (
            "/garbage",
            "exec \"/garbage\": Exec format error (os error 8)",
        ),
    ] {
        let out = ctx.exec(&id, &[prog]);
        assert_ne!(out.code, 0, "{prog}: {out}");
        assert!(!out.stdout.contains("ran"), "{prog}: {out}");
        assert!(out.stderr.contains(want), "{prog}: want {want:?} in {out}");
    }
    assert_eq!(ctx.status(&id), "running", "exec must not disturb the init");
}

/// An exec'd process is its own program (/proc/PID/exe is the container's
/// busybox, not the runtime nor the trampoline) and has only its stdio
/// and the fds of --preserve-fds: no trampoline memfd, no channel.
#[test]
fn exec_process_is_its_program_with_no_runtime_fds() {
    use std::os::unix::fs::MetadataExt;
    let ctx = Ctx::new();
    let (b, id, _) = ctx.sleeper("exexe", |_| {});
    let kept = b.path().join("kept");
    fs::write(&kept, "kept\n").unwrap();
    for preserve in [0, 1] {
        let pidfile = b.path().join(format!("exec{preserve}.pid"));
        let file = fs::File::open(&kept).unwrap();
        let mut cmd = ctx.cmd();
        cmd.args(["exec", "--detach", "--pid-file"])
            .arg(&pidfile)
            .args(["--preserve-fds", &preserve.to_string(), &id, "sleep", "60"]);
        use std::os::fd::AsRawFd;
        let raw = file.as_raw_fd();
        // SAFETY: fcntl/dup2 on an fd we own, in the child before exec (via
        // a high copy: the file may already be fd 3).
        unsafe {
            cmd.pre_exec(move || {
                let hi = libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 100);
                if hi < 0 || libc::dup2(hi, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        run_cmd(&mut cmd, Duration::from_secs(10)).success();
        let pid = ctx.tracked_pid_from(&pidfile);
        let (got, want) = (
            fs::metadata(format!("/proc/{pid}/exe")).unwrap(),
            fs::metadata(b.rootfs().join("bin/busybox")).unwrap(),
        );
        assert_eq!(
            (got.dev(), got.ino()),
            (want.dev(), want.ino()),
            "/proc/{pid}/exe is {:?}, not the container's busybox",
            fs::read_link(format!("/proc/{pid}/exe"))
        );
        let fds: Vec<(u32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                let n = e.file_name().to_string_lossy().parse().unwrap();
                let target = fs::read_link(e.path()).unwrap_or_default();
                (n, target.to_string_lossy().into_owned())
            })
            .collect();
        let mut nums: Vec<u32> = fds.iter().map(|(n, _)| *n).collect();
        nums.sort();
        let want: Vec<u32> = (0..3 + preserve).collect();
        assert_eq!(nums, want, "--preserve-fds {preserve}: {fds:?}");
        assert!(
            !fds.iter()
                .any(|(_, t)| t.contains("memfd:") || t.contains("socket:")),
            "{fds:?}"
        );
        if preserve == 1 {
            let t = &fds.iter().find(|(n, _)| *n == 3).unwrap().1;
            assert!(t.ends_with("/kept"), "fd 3 is {t}");
        }
    }
}
