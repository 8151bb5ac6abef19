//! Terminals: `run` with process.terminal in the foreground under a pty
//! the test owns (typing into a shell, window size), and the
//! console-socket protocol of create + start.

mod common;

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// A pty pair: (master, slave).
fn openpty(rows: u16, cols: u16) -> (fs::File, OwnedFd) {
    let (mut m, mut s) = (-1, -1);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: out-pointers to ints, no name buffer, valid winsize.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: fresh fds we own.
    unsafe {
        libc::fcntl(m, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(s, libc::F_SETFD, libc::FD_CLOEXEC);
        (fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s))
    }
}

/// `run --bundle B ID` with stdio on `slave`, which becomes the runtime's
/// controlling terminal (a new session), as under an interactive shell.
fn spawn_run_on_pty(ctx: &Ctx, b: &Bundle, id: &str, slave: &OwnedFd) -> Child {
    let mut cmd: Command = ctx.cmd();
    cmd.arg("run").arg("--bundle").arg(b.path()).arg(id);
    spawn_on_pty(cmd, slave)
}

/// Spawn `cmd` with stdio on `slave`, its controlling terminal.
fn spawn_on_pty(mut cmd: Command, slave: &OwnedFd) -> Child {
    let s = slave.as_raw_fd();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid/ioctl/dup2 in the child before exec, on our fds.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0
                || libc::ioctl(s, libc::TIOCSCTTY, 0) < 0
                || libc::dup2(s, 0) < 0
                || libc::dup2(s, 1) < 0
                || libc::dup2(s, 2) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn the runtime")
}

/// Wait for `child` (killing it after `timeout`); 128+N if killed by N.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn tty_bundle(script: Option<&str>) -> Bundle {
    let mut b = Bundle::new();
    b.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = match script {
            Some(s) => json!(["sh", "-c", s]),
            None => json!(["sh"]),
        };
    });
    b
}

#[test]
fn run_in_the_foreground_relays_a_pty_shell() {
    let ctx = Ctx::new();
    let b = tty_bundle(None);
    let id = ctx.id("ptyrun");
    let (mut master, slave) = openpty(24, 80);
    let mut child = spawn_run_on_pty(&ctx, &b, &id, &slave);
    drop(slave);
    master.write_all(b"echo hi-$((1+1))\n").unwrap();
    let text = read_until(&master, "hi-2", Duration::from_secs(10));
    assert!(text.contains("hi-2"), "read from the pty: {text:?}");
    master.write_all(b"exit 3\n").unwrap();
    let code = wait_child(&mut child, Duration::from_secs(10));
    // Keep reading so the runtime never blocks on a full pty.
    let rest = read_until(&master, "\u{0}", Duration::from_millis(200));
    assert_eq!(
        code,
        Some(3),
        "run's exit status (output: {text:?}{rest:?})"
    );
    ctx.assert_no_leftovers(&id);
}

/// Poll `stty size` (busybox stty fails while the size is 0x0) until it
/// prints something, or matches $1.
const SIZE_LOOP: &str = "i=0; while [ $i -lt 300 ]; do s=$(stty size 2>/dev/null); \
     [ -n \"$s\" ] && [ -z \"$1\" -o \"$s\" = \"$1\" ] && break; sleep 0.01; i=$((i+1)); done";

#[test]
fn run_in_the_foreground_passes_the_window_size() {
    let ctx = Ctx::new();
    // The size is copied to the container's pty as the runtime starts
    // relaying; runc too can let the process run a moment before that, so
    // the container polls instead of reading it once.
    let script = format!(
        "waitsize() {{ {SIZE_LOOP}; echo \"$2=$s.\"; }}; waitsize '' size1; \
         test -t 0 && echo stdin-tty; read go; waitsize '50 120' size2"
    );
    let b = tty_bundle(Some(&script));
    let id = ctx.id("ptysize");
    let (mut master, slave) = openpty(37, 101);
    let mut child = spawn_run_on_pty(&ctx, &b, &id, &slave);
    drop(slave);
    let text = read_until(&master, "stdin-tty", Duration::from_secs(10));
    assert!(text.contains("size1=37 101."), "stty size inside: {text:?}");
    // A resize of our terminal reaches the container (SIGWINCH).
    let ws = libc::winsize {
        ws_row: 50,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid winsize on our pty master.
    assert_eq!(
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
    master.write_all(b"go\n").unwrap();
    let more = read_until(&master, "size2=", Duration::from_secs(10));
    let more = more + &read_until(&master, "\n", Duration::from_secs(2));
    let code = wait_child(&mut child, Duration::from_secs(10));
    assert!(more.contains("size2=50 120."), "after a resize: {more:?}");
    assert_eq!(code, Some(0), "{text:?}{more:?}");
    ctx.assert_no_leftovers(&id);
}

/// `create --console-socket` of `b` as `id`; the pty master it received.
fn create_on_console(ctx: &Ctx, b: &Bundle, id: &str) -> std::fs::File {
    let cs = ConsoleSocket::new();
    ctx.rt(&[
        "create",
        "--console-socket",
        cs.path_str(),
        "--bundle",
        b.path().to_str().unwrap(),
        id,
    ])
    .success();
    ctx.track_pid(ctx.pid(id));
    cs.master(Duration::from_secs(10))
}

#[test]
fn create_with_console_socket_then_start_gives_an_interactive_shell() {
    let ctx = Ctx::new();
    let b = tty_bundle(None);
    let id = ctx.id("ptycs");
    let mut master = create_on_console(&ctx, &b, &id);
    ctx.start(&id).success();
    master
        .write_all(b"echo hi-$((1+1)); tty; echo $((6*7))-end\n")
        .unwrap();
    let text = read_until(&master, "42-end", Duration::from_secs(10));
    assert!(text.contains("hi-2"), "{text:?}");
    assert!(text.contains("/dev/pts/"), "tty inside: {text:?}");
    master.write_all(b"exit 3\n").unwrap();
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    ctx.delete(&id, false).success();
    ctx.assert_no_leftovers(&id);
}

#[test]
fn console_size_from_the_config() {
    let ctx = Ctx::new();
    let mut b = tty_bundle(Some("stty size; echo size-done; sleep 0.2"));
    b.edit(|c| c["process"]["consoleSize"] = json!({"height": 30, "width": 90}));
    let id = ctx.id("ptycfg");
    let master = create_on_console(&ctx, &b, &id);
    ctx.start(&id).success();
    let text = read_until(&master, "size-done", Duration::from_secs(10));
    assert!(text.contains("30 90"), "stty size inside: {text:?}");
    ctx.wait_status(&id, "stopped", Duration::from_secs(10));
    ctx.delete(&id, false).success();
}

/// `exec --tty` in the foreground, without a console socket: the runtime
/// relays between its own terminal and the new process's pty. The process
/// is exec'd (through the exec trampoline where it can be) with the pty
/// as its stdio and controlling terminal.
#[test]
fn exec_tty_in_the_foreground_relays_a_pty_shell() {
    let ctx = Ctx::new();
    let b = Bundle::sh("exec sleep 60");
    let id = ctx.id("ptyexec");
    ctx.create_started(&b, &id);
    let (mut master, slave) = openpty(24, 80);
    let mut cmd: Command = ctx.cmd();
    cmd.args(["exec", "--tty", &id, "sh"]);
    let mut child = spawn_on_pty(cmd, &slave);
    drop(slave);
    master
        .write_all(b"tty -s && echo is-tty; echo hi-$((2+4))\n")
        .unwrap();
    let text = read_until(&master, "hi-6", Duration::from_secs(10));
    assert!(text.contains("hi-6"), "read from the pty: {text:?}");
    assert!(text.contains("is-tty"), "stdin is not a tty: {text:?}");
    master.write_all(b"exit 5\n").unwrap();
    let code = wait_child(&mut child, Duration::from_secs(10));
    let rest = read_until(&master, "\u{0}", Duration::from_millis(200));
    assert_eq!(
        code,
        Some(5),
        "exec's exit status is the shell's (output: {text:?}{rest:?})"
    );
    assert_eq!(ctx.status(&id), "running", "exec must not disturb the init");
}
