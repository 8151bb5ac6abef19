//! The OCI runtime config (config.json) for an image: what the image says
//! to run, plus Docker's defaults for isolation.

use std::collections::HashSet;

use oci_spec::runtime::{
    get_default_mounts, get_default_namespaces, get_default_readonly_paths, Capability,
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder, LinuxResourcesBuilder,
    PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use onggi_image::spec::ImageConfig;

use crate::error::{EngineError, Result};
use crate::seccomp::default_profile;
use crate::user::ResolvedUser;

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default capability set.
const CAPS: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Docker's masked paths (oci-spec's defaults plus powercap).
fn masked_paths() -> Vec<String> {
    let mut v = oci_spec::runtime::get_default_maskedpaths();
    for p in ["/proc/interrupts", "/sys/devices/virtual/powercap"] {
        v.push(p.to_string());
    }
    v
}

/// Entrypoint + Cmd, with `command` (from the command line) replacing Cmd.
pub fn process_args(config: &ImageConfig, command: &[String], image: &str) -> Result<Vec<String>> {
    let rc = config.config.clone().unwrap_or_default();
    let mut args = rc.entrypoint.unwrap_or_default();
    if command.is_empty() {
        args.extend(rc.cmd.unwrap_or_default());
    } else {
        args.extend(command.iter().cloned());
    }
    if args.is_empty() {
        return Err(EngineError::Usage(format!(
            "image {image} has no entrypoint or command; give a command"
        )));
    }
    Ok(args)
}

/// Builds the config.json for `config` run as `user` with `args`.
pub fn runtime_spec(
    config: &ImageConfig,
    args: Vec<String>,
    user: &ResolvedUser,
    hostname: &str,
) -> Result<Spec> {
    let rc = config.config.clone().unwrap_or_default();
    let mut env = rc.env.unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    env.push(format!("HOSTNAME={hostname}"));
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!(
            "HOME={}",
            user.home
                .as_deref()
                .filter(|h| !h.is_empty())
                .unwrap_or("/")
        ));
    }
    let cwd = rc
        .working_dir
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".to_string());
    // Docker gives containers its own open-file limit; ours is the
    // caller's hard limit (a runtime cannot raise it), capped like Docker's.
    let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, hard)| hard.min(1_048_576))
        .unwrap_or(1024);
    let caps: HashSet<Capability> = CAPS.iter().copied().collect();
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(EngineError::spec)?;
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args)
        .env(env)
        .cwd(cwd)
        .user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids.clone())
                .build()
                .map_err(EngineError::spec)?,
        )
        .capabilities(capabilities)
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(nofile)
            .soft(nofile)
            .build()
            .map_err(EngineError::spec)?])
        .no_new_privileges(false)
        .build()
        .map_err(EngineError::spec)?;
    let deny_devices = LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .map_err(EngineError::spec)?;
    let linux = LinuxBuilder::default()
        .namespaces(get_default_namespaces())
        .masked_paths(masked_paths())
        .readonly_paths(get_default_readonly_paths())
        .resources(
            LinuxResourcesBuilder::default()
                .devices(vec![deny_devices])
                .build()
                .map_err(EngineError::spec)?,
        )
        .seccomp(default_profile()?)
        .build()
        .map_err(EngineError::spec)?;
    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(false)
                .build()
                .map_err(EngineError::spec)?,
        )
        .hostname(hostname)
        .mounts(get_default_mounts())
        .process(process)
        .linux(linux)
        .build()
        .map_err(EngineError::spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use onggi_image::spec::RunConfig;

    #[test]
    fn spec_from_image_config() {
        let config = ImageConfig {
            config: Some(RunConfig {
                entrypoint: Some(vec!["/bin/app".into()]),
                cmd: Some(vec!["--serve".into()]),
                env: Some(vec!["A=1".into()]),
                working_dir: Some("/srv".into()),
                ..RunConfig::default()
            }),
            ..ImageConfig::default()
        };
        let args = process_args(&config, &[], "img").unwrap();
        assert_eq!(args, ["/bin/app", "--serve"]);
        assert_eq!(
            process_args(&config, &["x".into()], "img").unwrap(),
            ["/bin/app", "x"]
        );
        let user = ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10],
            home: Some("/home/bob".into()),
        };
        let spec = runtime_spec(&config, args, &user, "box").unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(v["process"]["cwd"], "/srv");
        assert_eq!(v["process"]["user"]["uid"], 1000);
        assert_eq!(v["process"]["user"]["additionalGids"][0], 10);
        let env: Vec<String> = serde_json::from_value(v["process"]["env"].clone()).unwrap();
        assert!(env.contains(&"A=1".to_string()));
        assert!(env.iter().any(|e| e.starts_with("PATH=")));
        assert!(env.contains(&"HOME=/home/bob".to_string()));
        assert_eq!(v["root"]["path"], "rootfs");
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        let empty = ImageConfig::default();
        assert!(process_args(&empty, &[], "img").is_err());
    }
}
