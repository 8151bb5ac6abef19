//! v1 devices controller: deny everything, then write the rules in order.

use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::devices::Rule;
use crate::error::Result;
use crate::fs;

pub(super) fn apply(dir: &Path, devices: &[LinuxDeviceCgroup]) -> Result<()> {
    // Validate all rules before writing any, so a bad rule leaves the
    // previous policy in place.
    let rules = devices
        .iter()
        .map(|d| {
            let f = if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            Rule::from_oci(d, &dir.join(f).display().to_string())
        })
        .collect::<Result<Vec<_>>>()?;
    // Default deny: "a" switches the cgroup to deny-all and drops exceptions.
    // Each file is opened once; every rule is still a write(2) of its own,
    // in order.
    let mut deny = fs::Writer::open(&dir.join("devices.deny"), "devices.deny", "a")?;
    deny.write("a")?;
    let mut allow = None;
    for (r, line) in without_repeats(&rules) {
        if r.allow {
            let allow = match &mut allow {
                Some(w) => w,
                None => allow.insert(fs::Writer::open(
                    &dir.join("devices.allow"),
                    "devices.allow",
                    &line,
                )?),
            };
            allow.write(&line)?;
        } else {
            deny.write(&line)?;
        }
    }
    Ok(())
}

/// The rules with their v1 lines, leaving out a rule that repeats one
/// already written since the last switch between allow and deny: within
/// such a run a repeat changes nothing (the runtime's default device rules
/// overlap those of a typical config), and each write costs the kernel a
/// pass over the exception list. A deny of everything right after the
/// initial "a" is such a repeat too.
fn without_repeats(rules: &[Rule]) -> Vec<(&Rule, String)> {
    let mut out = Vec::with_capacity(rules.len());
    let mut allowing = false;
    let mut run: Vec<String> = vec![DENY_ALL.to_string()];
    for r in rules {
        let line = r.v1_line();
        if r.allow != allowing {
            allowing = r.allow;
            run.clear();
        }
        if run.contains(&line) {
            continue;
        }
        run.push(line.clone());
        out.push((r, line));
    }
    out
}

/// The line of a rule denying every device ("a" alone means the same).
const DENY_ALL: &str = "a *:* rwm";

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    #[test]
    fn writes_every_rule_in_order_through_one_open_file() {
        // On a scratch file the writes through one fd follow each other; a
        // cgroup file parses each write on its own (tests/v1.rs checks the
        // resulting policy on a real cgroup).
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("devices.allow"), "").unwrap();
        std::fs::write(t.path().join("devices.deny"), "").unwrap();
        let rules = vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .unwrap(),
        ];
        apply(t.path(), &rules).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("devices.allow")).unwrap(),
            "c 1:3 rwm"
        );
        // The config's deny-all repeats the initial "a": written once.
        assert_eq!(
            std::fs::read_to_string(t.path().join("devices.deny")).unwrap(),
            "a"
        );
    }

    fn rule(allow: bool, major: i64, minor: i64) -> LinuxDeviceCgroup {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(LinuxDeviceType::C)
            .major(major)
            .minor(minor)
            .access("rwm")
            .build()
            .unwrap()
    }

    #[test]
    fn repeats_within_a_run_are_written_once_across_runs_again() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("devices.allow"), "").unwrap();
        std::fs::write(t.path().join("devices.deny"), "").unwrap();
        // allow 1:3 twice, deny it, allow it again: the last allow matters
        // (it follows a deny) and must be written.
        let rules = [
            rule(true, 1, 3),
            rule(true, 1, 5),
            rule(true, 1, 3),
            rule(false, 1, 3),
            rule(false, 1, 3),
            rule(true, 1, 3),
        ];
        apply(t.path(), &rules).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("devices.allow")).unwrap(),
            "c 1:3 rwmc 1:5 rwmc 1:3 rwm"
        );
        assert_eq!(
            std::fs::read_to_string(t.path().join("devices.deny")).unwrap(),
            "ac 1:3 rwm"
        );
    }
}
