//! onggi-runtime: the command line of runc, over the onggi_runtime library.
//!
//! No Rust `main`: the C `main` below skips std's start-up (it reads
//! /proc/self/maps to place a stack guard and installs a SIGSEGV
//! alternate stack), which every short-lived runtime call would pay.
#![no_main]

mod cli;
#[cfg(onggi_runtime_musl)]
mod copy;
#[cfg(onggi_runtime_musl)]
mod musl;

use std::io::Write;
use std::os::unix::ffi::OsStrExt;

use anyhow::{bail, Context, Result};
use cli::{Cli, Command, LogFormat};
use onggi_runtime::{lifecycle, log, signal, spec, state::StateRoot};

/// The process entry point, called by the C runtime with the arguments.
/// They are taken from here, not from std::env::args: linked against musl
/// (see build.rs), std's hook that records argv is never called.
///
/// # Safety
/// `argv` holds `argc` pointers to NUL-terminated strings (the C runtime's).
#[no_mangle]
pub unsafe extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // What std's start-up would have done that we rely on: a write to a
    // closed pipe or socket is an EPIPE error, not a silent death.
    // And SIGCHLD at its default whatever the caller left: the runtime
    // waits for what it starts (`run`'s init, `exec`'s process, hooks), and
    // with SIGCHLD ignored the kernel would reap them itself (`run` would
    // wait forever). The container's process gets default dispositions
    // anyway (onggi_runtime::init::process::reset_signals).
    // SAFETY: setting signal dispositions, no handler involved.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
    let args = (0..usize::try_from(argc).unwrap_or(0)).map(|i| {
        // SAFETY: argv holds argc valid pointers to NUL-terminated strings
        // that live as long as the process (see above).
        let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
        std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned()
    });
    cli_main(args.collect());
    0
}

fn cli_main(args: Vec<std::ffi::OsString>) {
    let cli = cli::parse(args);
    // CVE-2019-5736: `create`, `run` and `exec` decide once the config or
    // the exec's process is read (onggi_runtime::selfprotect::for_init,
    // for_exec): usually the program is exec'd through a trampoline, else
    // the command re-executes once from a read-only view of this binary.
    let format = match cli.log_format {
        LogFormat::Text => log::Format::Text,
        LogFormat::Json => log::Format::Json,
    };
    log::init(cli.log.clone(), format, cli.debug);
    let code = match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            log::error(&message(&e));
            1
        }
    };
    std::process::exit(code);
}

/// The error and its causes, leaving out a cause whose text the message
/// already carries (library errors name their cause themselves).
fn message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}

fn dispatch(cli: Cli) -> Result<i32> {
    if cli.systemd_cgroup {
        bail!("--systemd-cgroup is not supported yet: use cgroupfs paths");
    }
    let rootless = match cli.rootless.as_str() {
        "auto" => None,
        "true" => Some(true),
        "false" => Some(false),
        other => bail!("--rootless must be auto, true or false, not {other:?}"),
    };
    let root = StateRoot::new(cli.root.clone().unwrap_or_else(lifecycle::default_root));
    match cli.command {
        Command::Create(args) => {
            onggi_runtime::create::create(
                &root,
                &args.options(rootless),
                onggi_runtime::create::Caller::Create,
            )?;
        }
        Command::Start { id } => lifecycle::start(&root, &id)?,
        Command::Run { create, detach } => {
            return Ok(onggi_runtime::run::run(
                &root,
                &create.options(rootless),
                detach,
            )?)
        }
        Command::Exec(a) => {
            let opts = onggi_runtime::exec::ExecOptions {
                id: a.id,
                process_file: a.process,
                args: a.command,
                tty: a.tty,
                console_socket: a.console_socket,
                detach: a.detach,
                pid_file: a.pid_file,
                cwd: a.cwd,
                env: a.env,
                user: a.user,
                additional_gids: a.additional_gids,
                caps: a.cap,
                no_new_privs: a.no_new_privs,
                preserve_fds: a.preserve_fds,
                process_label: a.process_label,
                apparmor: a.apparmor,
            };
            return Ok(onggi_runtime::exec::exec(&root, &opts)?);
        }
        Command::State { id } => {
            let v = lifecycle::state_json(&root, &id)?;
            println!("{}", serde_json_pretty(&v));
        }
        Command::Kill { all, id, signal } => {
            let sig = signal::parse_signal(&signal)?;
            lifecycle::kill(&root, &id, sig, all)?;
        }
        Command::Delete { force, id } => lifecycle::delete(&root, &id, force)?,
        Command::List { format, quiet } => list(&root, &format, quiet)?,
        Command::Spec { bundle, rootless } => {
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("{} exists: remove it first", path.display());
            }
            let v = spec::default_spec(rootless, nix_uid(), nix_gid());
            std::fs::write(&path, serde_json_pretty(&v) + "\n")
                .with_context(|| format!("write {}", path.display()))?;
        }
        Command::Pause { id } => onggi_runtime::manage::pause(&root, &id)?,
        Command::Resume { id } => onggi_runtime::manage::resume(&root, &id)?,
        Command::Update(a) => {
            let res = match &a.resources {
                Some(path) => onggi_runtime::manage::read_resources(path)?,
                None => a.flags().resources()?,
            };
            onggi_runtime::manage::update(&root, &a.id, &res)?;
        }
        Command::Events {
            stats,
            interval,
            id,
        } => {
            let iv = onggi_runtime::manage::parse_duration(&interval)?;
            onggi_runtime::manage::events(&root, &id, stats, iv, &mut std::io::stdout().lock())?;
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => match format.as_str() {
            "json" => println!(
                "{}",
                serde_json::to_string(&onggi_runtime::manage::pids(&root, &id)?)?
            ),
            "table" => print!("{}", onggi_runtime::manage::ps_table(&root, &id, &ps_args)?),
            other => bail!("unknown --format {other:?}: use table or json"),
        },
        Command::Features => println!(
            "{}",
            serde_json_pretty(&onggi_runtime::features::features())
        ),
    }
    Ok(0)
}

fn list(root: &StateRoot, format: &str, quiet: bool) -> Result<()> {
    let entries = lifecycle::list(root)?;
    let mut out = std::io::stdout().lock();
    if quiet {
        for e in &entries {
            writeln!(out, "{}", e.id)?;
        }
        return Ok(());
    }
    match format {
        "json" => writeln!(out, "{}", onggi_runtime_json(&entries)?)?,
        "table" => {
            writeln!(
                out,
                "{:<20} {:<10} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            )?;
            for e in &entries {
                writeln!(
                    out,
                    "{:<20} {:<10} {:<10} {:<40} {:<32} {}",
                    e.id,
                    e.pid,
                    e.status.to_string(),
                    e.bundle.display(),
                    e.created,
                    e.owner
                )?;
            }
        }
        other => bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}

fn onggi_runtime_json<T: serde::Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)?)
}

fn serde_json_pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

fn nix_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

fn nix_gid() -> u32 {
    // SAFETY: getgid cannot fail.
    unsafe { libc::getgid() }
}
