//! v2 freezer: cgroup.freeze, with cgroup.events telling when it took effect.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fs;

const TIMEOUT: Duration = Duration::from_secs(5);

fn frozen_event(dir: &Path) -> Result<Option<bool>> {
    let kv = fs::read_flat_keyed_opt(dir, "cgroup.events")?;
    Ok(fs::keyed(&kv, "frozen").map(|v| v == 1))
}

fn set(dir: &Path, frozen: bool, timeout: Duration) -> Result<()> {
    fs::write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let start = Instant::now();
    loop {
        match frozen_event(dir)? {
            // Kernels without the "frozen" key: nothing to wait for.
            None => return Ok(()),
            Some(f) if f == frozen => return Ok(()),
            Some(_) => {}
        }
        if start.elapsed() > timeout {
            if frozen {
                let _ = fs::write(dir, "cgroup.freeze", "0");
            }
            return Err(Error::Timeout {
                path: dir.join("cgroup.events"),
                what: format!("frozen {}", u8::from(frozen)),
                millis: timeout.as_millis() as u64,
            });
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

pub(crate) fn freeze(dir: &Path) -> Result<()> {
    set(dir, true, TIMEOUT)
}

pub(crate) fn thaw(dir: &Path) -> Result<()> {
    set(dir, false, TIMEOUT)
}

pub(crate) fn is_frozen(dir: &Path) -> Result<bool> {
    match frozen_event(dir)? {
        Some(f) => Ok(f),
        None => Ok(fs::read(dir, "cgroup.freeze")?.trim() == "1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_out_when_events_never_say_frozen() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cgroup.freeze"), "0").unwrap();
        std::fs::write(t.path().join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        let e = set(t.path(), true, Duration::from_millis(5)).unwrap_err();
        assert!(e.to_string().contains("cgroup.events"), "{e}");
        // It thawed again rather than leave a freeze pending.
        assert_eq!(
            std::fs::read_to_string(t.path().join("cgroup.freeze")).unwrap(),
            "0"
        );
        std::fs::write(t.path().join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        set(t.path(), true, Duration::from_millis(5)).unwrap();
        assert!(is_frozen(t.path()).unwrap());
    }
}
