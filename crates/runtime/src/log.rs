//! Runtime logging as runc does it: `--log FILE` and `--log-format
//! text|json`. containerd and Docker read the JSON lines (level, msg, time)
//! from the log file to report why a command failed.
//!
//! Kept deliberately simple: a command logs a handful of lines at most, so
//! the file is opened per line and no logging framework is linked in.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug)]
struct Config {
    file: Option<PathBuf>,
    format: Format,
    debug: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Set once by the binary before any command runs.
pub fn init(file: Option<PathBuf>, format: Format, debug: bool) {
    let _ = CONFIG.set(Config {
        file,
        format,
        debug,
    });
}

fn config() -> &'static Config {
    CONFIG.get_or_init(|| Config {
        file: None,
        format: Format::Text,
        debug: false,
    })
}

pub fn debug_enabled() -> bool {
    config().debug
}

fn line(level: &str, msg: &str) -> String {
    let c = config();
    match c.format {
        Format::Json => {
            let v =
                serde_json::json!({"level": level, "msg": msg, "time": crate::time::now_rfc3339()});
            format!("{v}\n")
        }
        Format::Text => format!(
            "time=\"{}\" level={level} msg={msg:?}\n",
            crate::time::now_rfc3339()
        ),
    }
}

fn emit(level: &str, msg: &str, to_stderr: bool) {
    let c = config();
    if let Some(path) = &c.file {
        let ok = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line(level, msg).as_bytes()));
        if ok.is_ok() && !to_stderr {
            return;
        }
    }
    if to_stderr || c.file.is_none() {
        let _ = std::io::stderr().write_all(line(level, msg).as_bytes());
    }
}

/// A fatal error of the command: the log file gets the JSON/text line and
/// stderr a plain "onggi-runtime: ..." message for people.
pub fn error(msg: &str) {
    let c = config();
    if c.file.is_some() {
        emit("error", msg, false);
    }
    let _ = writeln!(std::io::stderr(), "onggi-runtime: {msg}");
}

pub fn warn(msg: &str) {
    emit("warning", msg, false);
}

pub fn debug(msg: &str) {
    if config().debug {
        emit("debug", msg, false);
    }
}
