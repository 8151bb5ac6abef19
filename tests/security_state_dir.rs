//! Re-entry through the runtime's state directory (CVE-2024-21626 and
//! CVE-2019-5736 class: a runtime process inside the container's pid
//! namespace exposes its fds and exe through /proc/<pid>/). While a
//! container waits at the start barrier its init holds an O_PATH fd of the
//! host state root (to open <id>.fifo after pivot_root). A process of
//! another container sharing the pid namespace must not be able to reach
//! that directory: read <id>.json, create files there, or open <id>.fifo
//! (which would start the container without `start`).

mod security_common;

use std::time::Duration;

use security_common::*;

#[test]
fn state_dir_and_exec_fifo_unreachable_from_a_container() {
    let env = Env::new();
    let a = env.bundle("waiting", &["sleep", "30"]);
    let ida = env.id("wait");
    let o = env.create(&a, &ida);
    assert!(o.ok, "create: {o:?}");
    let apid = env.pid(&ida);

    // B joins A's pid namespace: A's init (still the runtime) is its pid 1.
    let script = r#"
for f in /proc/1/fd/*; do echo "fd $f -> $(readlink $f 2>&1)"; done
for f in /proc/1/fd/*; do
  if [ -e $f/ID.json ]; then
    echo "STATE $f"; head -c 80 $f/ID.json; echo
    touch $f/pwned-by-container && echo "WROTE $f"
  fi
  if [ -p $f/ID.fifo ]; then
    echo "FIFO $f"
    ( cat $f/ID.fifo > /dev/null ) &
    sleep 1
  fi
done
true
"#
    .replace("ID", &ida);
    let mut b = env.bundle("intruder", &["sh", "-c", &script]);
    b.config["linux"]["namespaces"][0] =
        serde_json::json!({"type": "pid", "path": format!("/proc/{apid}/ns/pid")});
    let idb = env.id("intr");
    let out = env.run(&b, &idb);
    eprintln!("intruder: {out:?}");
    let planted = env.root.join("pwned-by-container");
    assert!(
        !planted.exists(),
        "a container created {} in the host state dir:\n{}",
        planted.display(),
        out.stdout
    );
    assert!(
        !out.stdout.contains("STATE "),
        "a container read the host state file:\n{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(env.root.to_str().unwrap()),
        "a container sees the host state dir path:\n{}",
        out.stdout
    );
    // A must still wait for `start`.
    std::thread::sleep(Duration::from_millis(300));
    let st = Out::from(env.rt(&["state", &ida]));
    assert!(
        st.stdout.contains("\"created\""),
        "the container left the start barrier without `start`: {}",
        st.stdout
    );
}

/// The container's own processes cannot see the state dir or the fifo at
/// all (nothing of the host's <root> is mounted or reachable by path).
#[test]
fn state_dir_not_visible_inside_the_container() {
    let env = Env::new();
    let root = env.root.display().to_string();
    let script = format!(
        "ls -l /proc/1/fd /proc/self/fd 2>&1; find / -xdev -name '*.fifo' 2>/dev/null; ls {root} 2>&1; true"
    );
    let b = env.bundle("b", &["sh", "-c", &script]);
    let id = env.id("vis");
    let out = env.run(&b, &id);
    assert!(out.ok, "{out:?}");
    assert!(
        !out.stdout.contains(".fifo"),
        "an exec fifo visible:\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("No such file"),
        "the host state root {root} is reachable by path:\n{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(&format!("-> {root}")),
        "an fd to the state root:\n{}",
        out.stdout
    );
}
