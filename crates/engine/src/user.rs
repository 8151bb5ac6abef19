//! Resolving the image's `User` (`name`, `uid`, `name:group`, `uid:gid`)
//! through the image's own /etc/passwd and /etc/group, as Docker does.

use std::ffi::OsString;
use std::io::Read;

use nix::fcntl::OFlag;
use onggi_image::layer::safe::Root;

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: Option<String>,
}

/// Reads a file inside the rootfs without letting its symlinks lead out.
fn read_in_root(root: &Root, path: &[&str]) -> Option<String> {
    let comps: Vec<OsString> = path.iter().map(OsString::from).collect();
    let fd = root.open_in(&comps, OFlag::O_RDONLY).ok()?;
    let mut s = String::new();
    std::fs::File::from(fd)
        .take(16 << 20)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

pub fn resolve_user(root: &Root, spec: Option<&str>, image: &str) -> Result<ResolvedUser> {
    let passwd = read_in_root(root, &["etc", "passwd"]).unwrap_or_default();
    let group = read_in_root(root, &["etc", "group"]).unwrap_or_default();
    resolve_from(spec.unwrap_or(""), &passwd, &group, image)
}

pub fn resolve_from(spec: &str, passwd: &str, group: &str, image: &str) -> Result<ResolvedUser> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let users: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let fail = |what: String| EngineError::User {
        image: image.to_string(),
        reason: what,
    };
    let entry = match user_part.parse::<u32>() {
        Ok(uid) => users.iter().find(|f| f[2].parse() == Ok(uid)),
        Err(_) => users.iter().find(|f| f[0] == user_part),
    };
    let (uid, mut gid, name, home) = match (user_part.parse::<u32>(), entry) {
        (_, Some(f)) => (
            f[2].parse()
                .map_err(|_| fail(format!("bad uid in /etc/passwd for {}", f[0])))?,
            f[3].parse()
                .map_err(|_| fail(format!("bad gid in /etc/passwd for {}", f[0])))?,
            Some(f[0]),
            Some(f[5].to_string()),
        ),
        (Ok(uid), None) => (uid, 0, None, None),
        (Err(_), None) => {
            return Err(fail(format!(
                "no user {user_part:?} in the image's /etc/passwd"
            )))
        }
    };
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| fail(format!("no group {g:?} in the image's /etc/group")))?,
        };
    }
    let mut additional_gids = Vec::new();
    if let (Some(name), None) = (name, group_part) {
        for f in &groups {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(g) = f[2].parse::<u32>() {
                    if g != gid && !additional_gids.contains(&g) {
                        additional_gids.push(g);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nbob:x:1000:\nwheel:x:10:bob,alice\naudio:x:29:bob\n";

    #[test]
    fn resolves_docker_style_users() {
        let r = |s| resolve_from(s, PASSWD, GROUP, "img");
        assert_eq!(r("").unwrap().uid, 0);
        let bob = r("bob").unwrap();
        assert_eq!((bob.uid, bob.gid), (1000, 1000));
        assert_eq!(bob.additional_gids, vec![10, 29]);
        assert_eq!(bob.home.as_deref(), Some("/home/bob"));
        let w = r("www:wheel").unwrap();
        assert_eq!((w.uid, w.gid), (33, 10));
        let n = r("4242").unwrap();
        assert_eq!((n.uid, n.gid), (4242, 0));
        assert_eq!(r("1000:5").unwrap().gid, 5);
        assert!(r("nobody").is_err());
        assert!(r("bob:nogroup").is_err());
    }
}
