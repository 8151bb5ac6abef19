//! v1 freezer controller.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fs;
use crate::Cgroup;

/// How long `freeze` waits for FREEZING to become FROZEN.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

fn dir(cg: &Cgroup) -> Result<&Path> {
    cg.v1_dir("freezer")
        .ok_or_else(|| Error::ControllerMissing {
            controller: "freezer".into(),
            file: "freezer.state".into(),
        })
}

fn state(dir: &Path) -> Result<String> {
    Ok(fs::read(dir, "freezer.state")?.trim().to_string())
}

pub(crate) fn freeze(cg: &Cgroup) -> Result<()> {
    freeze_dir(dir(cg)?, FREEZE_TIMEOUT)
}

pub(super) fn freeze_dir(dir: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut last_write = start;
    fs::write(dir, "freezer.state", "FROZEN")?;
    loop {
        if state(dir)? == "FROZEN" {
            return Ok(());
        }
        if start.elapsed() > timeout {
            // Do not leave it half frozen.
            let _ = fs::write(dir, "freezer.state", "THAWED");
            return Err(Error::Timeout {
                path: dir.join("freezer.state"),
                what: "FROZEN".into(),
                millis: timeout.as_millis() as u64,
            });
        }
        // Tasks forked while freezing can stay unfrozen; writing FROZEN again
        // makes the kernel walk the cgroup again.
        if last_write.elapsed() > Duration::from_millis(50) {
            fs::write(dir, "freezer.state", "FROZEN")?;
            last_write = Instant::now();
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

pub(crate) fn thaw(cg: &Cgroup) -> Result<()> {
    fs::write(dir(cg)?, "freezer.state", "THAWED")
}

pub(crate) fn is_frozen(cg: &Cgroup) -> Result<bool> {
    // FREEZING counts as not frozen: some task still runs.
    Ok(state(dir(cg)?)? == "FROZEN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_waits_and_times_out() {
        let t = tempfile::tempdir().unwrap();
        // A scratch file reads back what we wrote, so this freezes at once.
        std::fs::write(t.path().join("freezer.state"), "THAWED").unwrap();
        freeze_dir(t.path(), Duration::from_millis(10)).unwrap();
        let cg = Cgroup::from_v1_dirs(vec![(vec!["freezer".into()], "/".into(), t.path().into())]);
        assert!(is_frozen(&cg).unwrap());
        thaw(&cg).unwrap();
        assert!(!is_frozen(&cg).unwrap());
        let none = Cgroup::from_v1_dirs(vec![]);
        assert!(freeze(&none)
            .unwrap_err()
            .to_string()
            .contains("freezer.state"));
    }
}
