//! `features`: what this build implements, in the runtime-spec 1.3
//! features.md shape. Every list is taken from the code that implements it,
//! so it cannot claim more than is compiled in.

use serde_json::{json, Value};

/// Mount options `rootfs::options` understands.
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
    "idmap",
    "ridmap",
];

pub fn features() -> Value {
    let mut mount_options: Vec<&str> = MOUNT_OPTIONS.to_vec();
    mount_options.sort_unstable();
    // Checked against the parser so the list cannot drift from the code.
    debug_assert!(mount_options.iter().all(|o| {
        let m = crate::rootfs::options::parse(&[o.to_string()]);
        m.data.is_empty()
    }));
    json!({
        "ociVersionMin": crate::spec::OCI_VERSION_MIN,
        "ociVersionMax": crate::spec::OCI_VERSION_MAX,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": crate::caps::all_names(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": onggi_seccomp::supported_actions(),
                "operators": onggi_seccomp::supported_operators(),
                "archs": onggi_seccomp::supported_archs(),
                "knownFlags": onggi_seccomp::supported_flags(),
                "supportedFlags": onggi_seccomp::supported_flags()
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": false},
            "memoryPolicy": {"enabled": false}
        },
        "annotations": {
            "org.opencontainers.runtime-spec.version": crate::spec::OCI_VERSION,
            "io.onggi.runtime.version": env!("CARGO_PKG_VERSION")
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_listed_mount_option_is_parsed() {
        for o in super::MOUNT_OPTIONS {
            let m = crate::rootfs::options::parse(&[o.to_string()]);
            assert!(m.data.is_empty(), "{o} would be passed as data");
        }
        let f = super::features();
        assert_eq!(f["ociVersionMax"], "1.3.0");
        assert_eq!(
            f["linux"]["capabilities"].as_array().map(|a| a.len()),
            Some(41)
        );
    }
}
