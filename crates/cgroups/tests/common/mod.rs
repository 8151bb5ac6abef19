//! Helpers for the root integration tests: a guard that kills what the test
//! started and removes the cgroup even when the test fails.

#![allow(dead_code)]

use std::process::{Child, Command};

use onggi_cgroups::Cgroup;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A name no other test run uses at the same time.
pub fn unique(name: &str) -> String {
    format!("onggi-test-{}-{name}", std::process::id())
}

pub struct Guard {
    pub cg: Cgroup,
    pub children: Vec<Child>,
}

impl Guard {
    pub fn new(cg: Cgroup) -> Guard {
        Guard {
            cg,
            children: Vec::new(),
        }
    }

    pub fn spawn_sleep(&mut self) -> i32 {
        let c = Command::new("sleep")
            .arg("1000")
            .spawn()
            .expect("spawn sleep");
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }

    pub fn kill_children(&mut self) {
        // A frozen task cannot die; thaw first (errors are fine: maybe no freezer).
        let _ = self.cg.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill_children();
        if let Err(e) = self.cg.discard() {
            eprintln!("cleanup failed: {e}");
        }
    }
}
