//! The container process: args, env, cwd, user, umask, rlimits,
//! oomScoreAdj, noNewPrivileges, capabilities, personality, ioPriority,
//! scheduler, --preserve-fds.

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;

use common::*;
use serde_json::json;

fn run_with(ctx: &Ctx, script: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Out {
    let mut b = Bundle::sh(script);
    b.edit(edit);
    let id = ctx.id("proc");
    ctx.run(&b, &id)
}

#[test]
fn args_are_passed_verbatim() {
    let ctx = Ctx::new();
    let mut b = Bundle::new();
    b.edit(|c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "printf '%s|' \"$0\" \"$@\"; echo",
            "zero",
            "a b",
            "",
            "*",
            "$HOME"
        ])
    });
    let id = ctx.id("args");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.stdout, "zero|a b||*|$HOME|\n");
}

#[test]
fn absolute_executable_path() {
    let ctx = Ctx::new();
    let mut b = Bundle::new();
    b.edit(|c| c["process"]["args"] = json!(["/bin/echo", "abs"]));
    let id = ctx.id("abs");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.stdout, "abs\n");
}

#[test]
fn env_is_exactly_the_config_plus_home() {
    let ctx = Ctx::new();
    let out = run_with(&ctx, "env | sort", |c| {
        c["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY="]);
    });
    out.success();
    // runc adds HOME from /etc/passwd when the config has none.
    assert_eq!(
        out.lines(),
        [
            "EMPTY=",
            "FOO=bar baz",
            "HOME=/root",
            "PATH=/bin",
            "PWD=/",
            "SHLVL=1"
        ],
        "{out}"
    );
}

#[test]
fn env_home_from_config_wins() {
    let ctx = Ctx::new();
    let out = run_with(&ctx, "echo $HOME", |c| {
        c["process"]["env"] = json!(["PATH=/bin", "HOME=/custom"])
    });
    out.success();
    assert_eq!(out.stdout, "/custom\n");
}

#[test]
fn cwd_is_entered_and_created_if_missing() {
    let ctx = Ctx::new();
    let mut b = Bundle::sh("pwd; echo here > rel.txt");
    b.edit(|c| c["process"]["cwd"] = json!("/work/new/deep"));
    let id = ctx.id("cwd");
    let out = ctx.run(&b, &id);
    out.success();
    assert_eq!(out.stdout, "/work/new/deep\n");
    assert_eq!(
        fs::read_to_string(b.rootfs().join("work/new/deep/rel.txt")).unwrap(),
        "here\n"
    );
}

#[test]
fn user_uid_gid_additional_gids() {
    let ctx = Ctx::new();
    let out = run_with(
        &ctx,
        "id; grep -E '^(Uid|Gid|Groups):' /proc/self/status",
        |c| {
            c["process"]["user"] =
                json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000]});
        },
    );
    out.success();
    let l = out.lines();
    assert_eq!(
        l[0], "uid=1000(user) gid=1000(user) groups=2000(extra),3000",
        "{out}"
    );
    assert_eq!(
        field(&out.stdout, "Uid:")
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["1000"; 4]
    );
    assert_eq!(
        field(&out.stdout, "Gid:")
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["1000"; 4]
    );
    assert_eq!(field(&out.stdout, "Groups:").unwrap(), "2000 3000");
}

#[test]
fn user_without_additional_gids_has_no_groups() {
    let ctx = Ctx::new();
    let out = run_with(
        &ctx,
        "grep -E '^Groups:' /proc/self/status; id -u; id -g",
        |c| {
            c["process"]["user"] = json!({"uid": 1, "gid": 1});
        },
    );
    out.success();
    assert_eq!(field(&out.stdout, "Groups:"), Some(""), "{out}");
    assert_eq!(out.lines()[1..], ["1", "1"]);
}

#[test]
fn umask() {
    let ctx = Ctx::new();
    let out = run_with(&ctx, "umask; touch /tmp/f; stat -c %a /tmp/f", |c| {
        c["process"]["user"]["umask"] = json!(0o027)
    });
    out.success();
    assert_eq!(out.lines(), ["0027", "640"], "{out}");
}

#[test]
fn default_umask_is_0022() {
    let ctx = Ctx::new();
    let out = ctx.run_sh("umask");
    out.success();
    assert_eq!(out.stdout, "0022\n");
}

#[test]
fn rlimits() {
    let ctx = Ctx::new();
    let out = run_with(
        &ctx,
        "grep -E '^Max (open files|processes|core file size)' /proc/self/limits",
        |c| {
            c["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000},
                {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
            ]);
        },
    );
    out.success();
    let row = |name: &str| -> Vec<String> {
        let l = out
            .lines()
            .into_iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name}: {out}"));
        l[name.len()..]
            .split_whitespace()
            .take(2)
            .map(String::from)
            .collect()
    };
    assert_eq!(row("Max open files"), ["1000", "2000"]);
    assert_eq!(row("Max processes"), ["300", "400"]);
    assert_eq!(row("Max core file size"), ["0", "0"]);
}

#[test]
fn oom_score_adj() {
    let ctx = Ctx::new();
    let out = run_with(&ctx, "cat /proc/self/oom_score_adj", |c| {
        c["process"]["oomScoreAdj"] = json!(512)
    });
    out.success();
    assert_eq!(out.stdout, "512\n");
}

#[test]
fn no_new_privileges() {
    let ctx = Ctx::new();
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let out = run_with(&ctx, "grep NoNewPrivs /proc/self/status", |c| {
            c["process"]["noNewPrivileges"] = json!(nnp)
        });
        out.success();
        assert_eq!(
            field(&out.stdout, "NoNewPrivs:"),
            Some(want),
            "noNewPrivileges {nnp}: {out}"
        );
    }
}

const CAP_SCRIPT: &str = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status";

#[test]
fn capabilities_as_root() {
    let ctx = Ctx::new();
    let set = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_CHROOT"];
    let out = run_with(&ctx, CAP_SCRIPT, |c| {
        c["process"]["capabilities"] = json!({"bounding": set, "effective": set, "permitted": set});
    });
    out.success();
    let mask = cap_mask(&set);
    assert_eq!(field(&out.stdout, "CapBnd:"), Some(&mask[..]), "{out}");
    assert_eq!(field(&out.stdout, "CapEff:"), Some(&mask[..]), "{out}");
    assert_eq!(field(&out.stdout, "CapPrm:"), Some(&mask[..]), "{out}");
    assert_eq!(
        field(&out.stdout, "CapInh:"),
        Some("0000000000000000"),
        "{out}"
    );
    assert_eq!(
        field(&out.stdout, "CapAmb:"),
        Some("0000000000000000"),
        "{out}"
    );
}

#[test]
fn capabilities_of_a_non_root_user_with_ambient() {
    // For a non-root user without file capabilities, exec keeps exactly
    // the ambient set as permitted and effective.
    let ctx = Ctx::new();
    let bounding = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_RAW",
        "CAP_SETUID",
        "CAP_NET_BIND_SERVICE",
    ];
    let permitted = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let inheritable = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let ambient = ["CAP_NET_BIND_SERVICE"];
    let out = run_with(&ctx, CAP_SCRIPT, |c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": bounding, "effective": permitted, "permitted": permitted,
            "inheritable": inheritable, "ambient": ambient
        });
    });
    out.success();
    assert_eq!(
        field(&out.stdout, "CapBnd:").map(String::from),
        Some(cap_mask(&bounding)),
        "{out}"
    );
    assert_eq!(
        field(&out.stdout, "CapInh:").map(String::from),
        Some(cap_mask(&inheritable)),
        "{out}"
    );
    assert_eq!(
        field(&out.stdout, "CapAmb:").map(String::from),
        Some(cap_mask(&ambient)),
        "{out}"
    );
    assert_eq!(
        field(&out.stdout, "CapPrm:").map(String::from),
        Some(cap_mask(&ambient)),
        "{out}"
    );
    assert_eq!(
        field(&out.stdout, "CapEff:").map(String::from),
        Some(cap_mask(&ambient)),
        "{out}"
    );
}

#[test]
fn capabilities_restrict_what_root_can_do() {
    let ctx = Ctx::new();
    // Without CAP_CHOWN, root cannot chown; with it, it can.
    let out = run_with(
        &ctx,
        "touch /tmp/f; chown 1000 /tmp/f 2>/dev/null && echo CHOWNED || echo denied",
        |c| {
            c["process"]["capabilities"] = json!({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]});
        },
    );
    out.success();
    assert_eq!(out.stdout, "denied\n");
    let out = run_with(
        &ctx,
        "touch /tmp/f; chown 1000 /tmp/f && echo chowned",
        |c| {
            c["process"]["capabilities"] = json!({"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]});
        },
    );
    out.success();
    assert_eq!(out.stdout, "chowned\n");
}

#[test]
fn personality_linux32() {
    let ctx = Ctx::new();
    let out = run_with(&ctx, "uname -m", |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX32"})
    });
    out.success();
    assert_eq!(out.stdout, "i686\n");
    let out = run_with(&ctx, "uname -m", |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX"})
    });
    out.success();
    assert_eq!(out.stdout, format!("{}\n", std::env::consts::ARCH));
}

#[test]
fn io_priority() {
    let ctx = Ctx::new();
    let out = run_with(&ctx, "ionice -p $$", |c| {
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 3})
    });
    out.success();
    assert_eq!(out.stdout, "best-effort: prio 3\n");
    let out = run_with(&ctx, "ionice -p $$", |c| {
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0})
    });
    out.success();
    assert_eq!(out.stdout, "idle\n");
}

#[test]
fn scheduler_batch_with_nice() {
    let ctx = Ctx::new();
    let out = run_with(
        &ctx,
        "grep -E '^policy' /proc/self/sched; cut -d' ' -f19 /proc/self/stat",
        |c| {
            c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
        },
    );
    out.success();
    let policy = out.lines()[0].split(':').nth(1).unwrap().trim().to_string();
    assert_eq!(policy, "3", "SCHED_BATCH is policy 3: {out}");
    assert_eq!(out.lines()[1], "7", "nice: {out}");
}

#[test]
fn preserve_fds() {
    let ctx = Ctx::new();
    let d = tempfile::tempdir().unwrap();
    let passed = d.path().join("passed");
    let leaked = d.path().join("leaked");
    fs::write(&passed, "passed through fd 3\n").unwrap();
    fs::write(&leaked, "must not be seen\n").unwrap();
    let b = Bundle::sh("cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; cat <&4 2>/dev/null && echo LEAKED; true");
    let id = ctx.id("fds");
    let f3 = fs::File::open(&passed).unwrap();
    let f4 = fs::File::open(&leaked).unwrap();
    let (fd3, fd4) = (f3.as_raw_fd(), f4.as_raw_fd());
    let mut c = ctx.cmd();
    c.arg("run")
        .arg("--preserve-fds")
        .arg("1")
        .arg("--bundle")
        .arg(b.path())
        .arg(&id);
    // SAFETY: only fcntl/dup2 between fork and exec. Copy to high fds
    // first: dup2(3, 3) would keep O_CLOEXEC.
    unsafe {
        c.pre_exec(move || {
            let (a, b) = (
                libc::fcntl(fd3, libc::F_DUPFD_CLOEXEC, 100),
                libc::fcntl(fd4, libc::F_DUPFD_CLOEXEC, 100),
            );
            if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    out.success();
    let l = out.lines();
    assert_eq!(l[0], "passed through fd 3", "{out}");
    // 0 1 2 3, plus the fd ls uses to read the directory.
    let fds: Vec<u32> = l[1]
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(fds.starts_with(&[0, 1, 2, 3]) && fds.len() <= 5, "{out}");
    assert!(
        !out.stdout.contains("LEAKED"),
        "fd 4 of the caller leaked into the container: {out}"
    );
}

#[test]
fn no_caller_fds_leak_without_preserve_fds() {
    let ctx = Ctx::new();
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("f");
    fs::write(&p, "secret\n").unwrap();
    let b =
        Bundle::sh("for f in 3 4 5 6 7 8 9; do cat <&$f 2>/dev/null && echo LEAKED-$f; done; true");
    let id = ctx.id("nofds");
    let f = fs::File::open(&p).unwrap();
    let fd = f.as_raw_fd();
    let mut c = ctx.cmd();
    c.arg("run").arg("--bundle").arg(b.path()).arg(&id);
    // SAFETY: only fcntl/dup2 between fork and exec.
    unsafe {
        c.pre_exec(move || {
            let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
            for t in [3, 5, 9] {
                if high < 0 || libc::dup2(high, t) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    out.success();
    assert!(!out.stdout.contains("LEAKED"), "{out}");
}

/// The runtime started with signals ignored (as a shell starts background
/// jobs, or nohup; SIGCHLD too, and the real-time signals libcs keep for
/// themselves): `run` and `exec` still wait for their process, and it
/// starts with every disposition at default and nothing blocked.
#[test]
fn signals_ignored_by_the_caller_are_reset() {
    let ctx = Ctx::new();
    let ignoring = |c: &mut std::process::Command| {
        // SAFETY: raw rt_sigaction between fork and exec (libc's sigaction
        // refuses 32-34), async-signal-safe; the struct is the kernel's
        // x86_64 layout.
        unsafe {
            c.pre_exec(|| {
                #[repr(C)]
                struct KernelSigaction {
                    handler: usize,
                    flags: u64,
                    restorer: usize,
                    mask: u64,
                }
                let ign = KernelSigaction {
                    handler: libc::SIG_IGN,
                    flags: 0,
                    restorer: 0,
                    mask: 0,
                };
                for sig in [1, 2, 3, 10, 13, 17, 32, 33, 34, 40] {
                    let p: *const KernelSigaction = &ign;
                    libc::syscall(libc::SYS_rt_sigaction, sig, p, 0usize, 8usize);
                }
                Ok(())
            });
        }
    };
    let show = ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"];
    let expect = ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"];

    let mut b = Bundle::new();
    b.edit(|c| c["process"]["args"] = json!(show));
    let id = ctx.id("sigign");
    let mut c = ctx.cmd();
    c.arg("run").arg("--bundle").arg(b.path()).arg(&id);
    ignoring(&mut c);
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    out.success();
    assert_eq!(out.lines(), expect, "{out}");

    let (_s, id, _) = ctx.sleeper("sigign-exec", |_| {});
    let mut c = ctx.cmd();
    c.arg("exec").arg(&id).args(show);
    ignoring(&mut c);
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    out.success();
    assert_eq!(out.lines(), expect, "{out}");
}
