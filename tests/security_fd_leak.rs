//! CVE-2024-21626 ("Leaky Vessels"): a file descriptor of the runtime (or
//! of its caller) that reaches the container, in particular a directory
//! fd of the host, lets the container escape with process.cwd =
//! /proc/self/fd/N or by walking `..` from that fd. The runtime must pass
//! only stdio and --preserve-fds, and check the cwd is inside the root.

mod security_common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use security_common::*;

/// Open a host directory WITHOUT close-on-exec would leak it; we open it
/// with CLOEXEC and dup2 it onto a fixed number in the child instead
/// (dup2 clears CLOEXEC): the runtime is spawned holding it.
fn open_dir(p: &Path) -> OwnedFd {
    std::fs::File::open(p).expect("open host dir").into()
}

fn inherit(c: &mut Command, fds: Vec<(OwnedFd, i32)>) {
    // SAFETY: only async-signal-safe dup2 between fork and exec.
    unsafe {
        c.pre_exec(move || {
            // Move the sources out of the way first (a source may already
            // be numbered like a target), then dup2, which clears CLOEXEC.
            let mut high = Vec::new();
            for (fd, to) in &fds {
                let h = libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 200);
                if h < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push((h, *to));
            }
            for (h, to) in high {
                if libc::dup2(h, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// fd number -> link target, from `ls -l /proc/<sh>/fd` inside.
fn parse_fds(stdout: &str) -> Vec<(u32, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let n = left.split_whitespace().last()?.parse().ok()?;
            Some((n, target.trim().to_string()))
        })
        .collect()
}

/// CVE-2024-21626: the caller's inherited (non-CLOEXEC) host directory fd
/// and the runtime's own fds (state root, exec fifo, sync socket, cgroup
/// files) must not be visible in the container's /proc/self/fd; with
/// --preserve-fds 1 exactly fd 3 is passed.
#[test]
fn cve_2024_21626_no_runtime_fd_reaches_the_container() {
    let env = Env::new();
    let host = env.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("secret"), "host secret").unwrap();
    let passed = env.path().join("passed-file");
    std::fs::write(&passed, "preserved").unwrap();

    // `; true` keeps sh from exec'ing ls: ls lists the shell's fds.
    let b = env.bundle("b", &["sh", "-c", "ls -l /proc/$$/fd; true"]);
    b.write();
    for preserve in [0u32, 1] {
        let id = env.id("fdleak");
        let mut c = env.cmd();
        c.args([
            "run",
            "--preserve-fds",
            &preserve.to_string(),
            "--bundle",
            b.dir_str(),
            &id,
        ]);
        let file: OwnedFd = std::fs::File::open(&passed).unwrap().into();
        inherit(
            &mut c,
            vec![(file, 3), (open_dir(&host), 4), (open_dir(&host), 9)],
        );
        let out = Out::from(output_with_timeout(c, Duration::from_secs(60)));
        assert!(out.ok, "run --preserve-fds {preserve}: {out:?}");
        let fds = parse_fds(&out.stdout);
        let nums: Vec<u32> = fds.iter().map(|f| f.0).collect();
        let expect: Vec<u32> = (0..3 + preserve).collect();
        assert_eq!(
            nums, expect,
            "--preserve-fds {preserve}: the container's fds are {fds:?}"
        );
        for (n, target) in &fds {
            assert!(
                !target.contains("hostdir"),
                "fd {n} -> {target}: the caller's host directory leaked"
            );
            assert!(
                !target.contains(env.root.to_str().unwrap()),
                "fd {n} -> {target}: the runtime's state dir leaked"
            );
            assert!(
                !target.ends_with(".fifo"),
                "fd {n} -> {target}: the exec fifo leaked"
            );
        }
        if preserve == 1 {
            assert!(
                fds[3].1.ends_with("passed-file"),
                "fd 3 should be the preserved file: {fds:?}"
            );
        }
    }
}

/// CVE-2024-21626 (attack 1): process.cwd = /proc/self/fd/N, N being a
/// leaked host directory fd (the caller's, or the runtime's own state dir
/// or cgroup fds). The container must either fail to start or be inside
/// its root; it must never create a file in the host directory by `..`.
#[test]
fn cve_2024_21626_cwd_through_leaked_fd_is_refused() {
    let env = Env::new();
    let host = env.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    let up = "../".repeat(20);
    for n in 3..=12 {
        let marker = host.join(format!("escaped-{n}"));
        let rel = format!("{up}{}", marker.strip_prefix("/").unwrap().display());
        let mut b = env.bundle(
            &format!("b{n}"),
            &["sh", "-c", &format!("touch {rel} ./cwd-marker; pwd")],
        );
        b.config["process"]["cwd"] = format!("/proc/self/fd/{n}").into();
        b.write();
        let id = env.id("cwdfd");
        let mut c = env.cmd();
        c.args(["run", "--bundle", b.dir_str(), &id]);
        inherit(&mut c, vec![(open_dir(&host), 4), (open_dir(&host), 9)]);
        let out = Out::from(output_with_timeout(c, Duration::from_secs(60)));
        assert!(
            !marker.exists(),
            "cwd /proc/self/fd/{n}: the container wrote {} on the host ({out:?})",
            marker.display()
        );
        assert!(
            !host.join("cwd-marker").exists(),
            "cwd /proc/self/fd/{n}: the container's cwd was the host directory"
        );
        if out.ok {
            assert!(
                !out.stdout.contains("unreachable") && !out.stdout.contains("hostdir"),
                "cwd {n}: pwd {}",
                out.stdout
            );
        }
    }
}

/// CVE-2024-21626 (attack 2, via exec): `exec --cwd /proc/self/fd/N` into
/// a running container, with a host directory fd inherited by the runtime.
#[test]
fn cve_2024_21626_exec_cwd_through_leaked_fd_is_refused() {
    let env = Env::new();
    let host = env.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    let b = env.bundle("b", &["sleep", "100"]);
    let id = env.id("execfd");
    let o = env.run_detached(&b, &id);
    assert!(o.ok, "run -d: {o:?}");
    let up = "../".repeat(20);
    for n in 3..=12 {
        let marker = host.join(format!("escaped-{n}"));
        let rel = format!("{up}{}", marker.strip_prefix("/").unwrap().display());
        let mut c = env.cmd();
        c.args([
            "exec",
            "--cwd",
            &format!("/proc/self/fd/{n}"),
            &id,
            "sh",
            "-c",
            &format!("touch {rel}; pwd"),
        ]);
        inherit(&mut c, vec![(open_dir(&host), 4), (open_dir(&host), 9)]);
        let out = Out::from(output_with_timeout(c, Duration::from_secs(60)));
        assert!(
            !marker.exists(),
            "exec --cwd /proc/self/fd/{n}: the process wrote {} on the host ({out:?})",
            marker.display()
        );
    }
    // And no fd but stdio reaches an exec'd process either.
    let mut c = env.cmd();
    c.args(["exec", &id, "sh", "-c", "ls -l /proc/$$/fd; true"]);
    inherit(
        &mut c,
        vec![
            (open_dir(&host), 3),
            (open_dir(&host), 4),
            (open_dir(&host), 9),
        ],
    );
    let out = Out::from(output_with_timeout(c, Duration::from_secs(60)));
    assert!(out.ok, "exec: {out:?}");
    let nums: Vec<u32> = parse_fds(&out.stdout).iter().map(|f| f.0).collect();
    assert_eq!(nums, vec![0, 1, 2], "exec'd process fds: {}", out.stdout);
}

/// CVE-2024-21626 class: process.cwd that is a symlink pointing out of the
/// root (relative and absolute). The process must land inside the root.
#[test]
fn cwd_symlink_pointing_out_stays_inside() {
    let env = Env::new();
    let host = env.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    for (i, target) in [
        format!(
            "{}{}",
            "../".repeat(20),
            host.strip_prefix("/").unwrap().display()
        ),
        host.display().to_string(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = env.bundle(&format!("b{i}"), &["sh", "-c", "touch ./escaped; pwd"]);
        std::os::unix::fs::symlink(&target, b.rootfs.join("work")).unwrap();
        b.config["process"]["cwd"] = "/work".into();
        let id = env.id("cwdlink");
        let out = env.run(&b, &id);
        assert!(
            !host.join("escaped").exists(),
            "cwd symlink -> {target}: the process wrote into the host directory ({out:?})"
        );
        assert!(
            tree(&host).is_empty(),
            "cwd symlink -> {target}: the runtime created {:?} in the host directory",
            tree(&host)
        );
    }
}
