//! onggi-runtime: the command line of runc, over the onggi_runtime library.
//!
//! No Rust `main`: the C `main` below skips std's start-up (it reads
//! /proc/self/maps to place a stack guard and installs a SIGSEGV
//! alternate stack), which every short-lived runtime call would pay.
#![no_main]

#[cfg(onggi_runtime_musl)]
mod copy;
#[cfg(onggi_runtime_musl)]
mod musl;

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use onggi_runtime::{create::CreateOptions, lifecycle, log, signal, spec, state::StateRoot};

#[derive(Parser)]
#[command(
    name = "onggi-runtime",
    version,
    disable_version_flag = true,
    about = "An OCI container runtime (runtime-spec 1.3) with runc's command line"
)]
// Global options go before the command, as with runc. They are not
// propagated into every subcommand (clap's `global`), and the subcommands
// are built only when used (`defer`): both cost ~0.13 ms per call.
struct Cli {
    /// Print version
    #[arg(short = 'V', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Directory for container state (default /run/onggi, or $XDG_RUNTIME_DIR/onggi when not root)
    #[arg(long)]
    root: Option<PathBuf>,
    /// Log file (default: stderr)
    #[arg(long)]
    log: Option<PathBuf>,
    /// Log format
    #[arg(long = "log-format", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Debug logging
    #[arg(long)]
    debug: bool,
    /// Use systemd to manage cgroups (not supported yet)
    #[arg(long = "systemd-cgroup")]
    systemd_cgroup: bool,
    /// Rootless mode: auto, true or false
    #[arg(long, default_value = "auto")]
    rootless: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct CreateArgs {
    /// Path to the bundle directory (holding config.json)
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Write the init's pid to this file
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Do not use pivot_root (MS_MOVE + chroot instead)
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Container id
    id: String,
}

impl CreateArgs {
    fn options(&self, rootless: Option<bool>) -> CreateOptions {
        CreateOptions {
            rootless,
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

#[derive(clap::Args)]
struct ExecArgs {
    /// A process.json describing the process (instead of the command)
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Allocate a pseudo-terminal
    #[arg(short, long)]
    tty: bool,
    /// Unix socket that receives the pty master
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Do not wait for the process
    #[arg(short, long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Environment variable KEY=VALUE (repeatable)
    #[arg(short, long)]
    env: Vec<String>,
    /// uid[:gid]
    #[arg(short, long)]
    user: Option<String>,
    /// Additional group id (repeatable)
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    /// Add a capability (repeatable)
    #[arg(short, long)]
    cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// SELinux label of the process
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// AppArmor profile of the process
    #[arg(long)]
    apparmor: Option<String>,
    /// Container id
    id: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// Create a container: its init waits for `start`
    Create(CreateArgs),
    /// Start a created container
    Start { id: String },
    /// Create and start a container; in the foreground, wait for it and delete it
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container
        #[arg(short, long)]
        detach: bool,
    },
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// Print the state of a container as JSON
    State { id: String },
    /// Send a signal to the container's init (or to all its processes)
    Kill {
        /// Send the signal to every process of the container
        #[arg(short, long)]
        all: bool,
        id: String,
        /// Signal name or number (default SIGTERM)
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (or any, with --force)
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers
    #[command(alias = "ps-all")]
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Only print ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for running without root
        #[arg(long = "rootless", id = "spec_rootless")]
        rootless: bool,
    },
    /// Print the features this runtime implements as JSON
    Features,
    /// Freeze every process of the container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Change the container's resource limits
    Update(UpdateArgs),
    /// Resource statistics (--stats once) or a stream of stats and OOM events
    Events {
        /// Print one stats event and exit
        #[arg(long)]
        stats: bool,
        /// Interval between stats events, e.g. 5s, 500ms
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Processes of the container
    Ps {
        /// table (ps output) or json (pids)
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        /// Arguments for ps (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct UpdateArgs {
    /// Resources as JSON (linux.resources), "-" for stdin
    #[arg(short, long)]
    resources: Option<PathBuf>,
    #[arg(long)]
    memory: Option<String>,
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    #[arg(long = "kernel-memory")]
    kernel_memory: Option<String>,
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<u64>,
    #[arg(long = "cpu-quota")]
    cpu_quota: Option<i64>,
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime")]
    cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    id: String,
}

impl UpdateArgs {
    fn flags(&self) -> onggi_runtime::manage::UpdateFlags {
        onggi_runtime::manage::UpdateFlags {
            memory: self.memory.clone(),
            memory_swap: self.memory_swap.clone(),
            memory_reservation: self.memory_reservation.clone(),
            kernel_memory: self.kernel_memory.clone(),
            cpu_shares: self.cpu_shares,
            cpu_quota: self.cpu_quota,
            cpu_period: self.cpu_period,
            cpu_rt_period: self.cpu_rt_period,
            cpu_rt_runtime: self.cpu_rt_runtime,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
        }
    }
}

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
    // SAFETY: setting a signal disposition to SIG_IGN, no handler involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
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
    let cli = Cli::parse_from(args);
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
