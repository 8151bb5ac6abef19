//! Fuzz config.json parsing and validation: the bytes are written as a
//! bundle's config.json (next to an existing rootfs directory) and loaded
//! with `Bundle::load`; an accepted spec is then planned the way `create`
//! plans it before the clone (process, mounts, devices, seccomp compile).
//! The bytes also go straight to `parse_seccomp` + `compile`.
//!
//! Property: no panic, and every rejection is an error with a message.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn bundle_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("onggi-fuzz-bundle-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).expect("bundle dir");
        dir
    })
}

fn check_seccomp(bytes: &[u8]) {
    match onggi_seccomp::parse_seccomp(bytes) {
        Ok(sc) => {
            if let Err(e) = onggi_seccomp::compile(&sc) {
                assert!(!e.to_string().is_empty(), "compile error without a message");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "parse error without a message"),
    }
}

fuzz_target!(|data: &[u8]| {
    check_seccomp(data);

    let dir = bundle_dir();
    std::fs::write(dir.join("config.json"), data).expect("write config.json");
    let bundle = match onggi_runtime::spec::Bundle::load(dir) {
        Ok(b) => b,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "rejection without a message");
            return;
        }
    };
    let spec = &bundle.spec;
    if let Some(linux) = spec.linux() {
        if let Some(sc) = linux.seccomp() {
            if let Err(e) = onggi_seccomp::compile(sc) {
                assert!(!e.to_string().is_empty());
            }
        }
        if let Some(devs) = linux.devices() {
            if let Err(e) = onggi_runtime::rootfs::devices::plan(devs) {
                assert!(!e.to_string().is_empty());
            }
        }
    }
    if let Some(p) = spec.process() {
        let pers = spec.linux().as_ref().and_then(|l| l.personality().as_ref());
        if let Err(e) = onggi_runtime::init::process::ProcessPlan::from_spec(p, pers) {
            assert!(!e.to_string().is_empty());
        }
    }
    // Mount planning (option parsing, destinations): namespaces are not
    // planned here since joining opens arbitrary paths from the input.
    match onggi_runtime::rootfs::RootfsPlan::from_spec(spec, &bundle.dir, &bundle.rootfs, false, true, false, onggi_runtime::rootfs::CgroupSources { cgroup: None, host: &onggi_cgroups::HostView::default() }) {
        Ok(_) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
