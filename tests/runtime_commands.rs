//! The commands that describe rather than run: list, spec, features, and
//! --log. Black-box: only the onggi-runtime binary is used.

mod common;

use std::fs;

use common::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------- list

#[test]
fn list_table_json_and_quiet() {
    let ctx = Ctx::new();
    let b1 = Bundle::sh("exec sleep 60");
    let b2 = Bundle::sh("exec sleep 60");
    let created = ctx.id("lista");
    let running = ctx.id("listb");
    ctx.create(&b1, &created).success();
    let rpid = ctx.create_started(&b2, &running);

    let q = ctx.rt(&["list", "-q"]);
    q.success();
    let mut ids: Vec<&str> = q.lines();
    ids.sort();
    let mut want = vec![created.as_str(), running.as_str()];
    want.sort();
    assert_eq!(ids, want, "{q}");

    let t = ctx.rt(&["list"]);
    t.success();
    let lines = t.lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{t}"
    );
    assert_eq!(lines.len(), 3, "{t}");
    let row = |id: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(id))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    let r = row(&running).unwrap_or_else(|| panic!("no row for {running}: {t}"));
    assert_eq!(r[1], rpid.to_string());
    assert_eq!(r[2], "running");
    assert_eq!(
        fs::canonicalize(r[3]).ok(),
        fs::canonicalize(b2.path()).ok(),
        "{t}"
    );
    let c = row(&created).unwrap_or_else(|| panic!("no row for {created}: {t}"));
    assert_eq!(c[2], "created");

    let j = ctx.rt(&["list", "--format", "json"]);
    j.success();
    let v = j.json();
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("list json is an array: {j}"));
    assert_eq!(arr.len(), 2);
    let e = arr
        .iter()
        .find(|e| e["id"] == running.as_str())
        .expect("running entry");
    assert_eq!(e["status"], "running");
    assert_eq!(e["pid"], rpid);
    for k in ["id", "pid", "status", "bundle", "created", "owner"] {
        assert!(e.get(k).is_some(), "list json entry lacks {k}: {e}");
    }
    // The created timestamp is RFC 3339.
    let created_at = e["created"].as_str().unwrap_or("");
    assert!(
        created_at.len() >= 20 && created_at.as_bytes()[4] == b'-' && created_at.contains('T'),
        "{created_at}"
    );

    let bad = ctx.rt(&["list", "--format", "yaml"]);
    bad.fails_with(&["format"]);
}

#[test]
fn list_empty_root() {
    let ctx = Ctx::new();
    let j = ctx.rt(&["list", "--format", "json"]);
    j.success();
    // runc prints "null" for no containers; an empty array is fine too.
    let v = j.json();
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "{j}"
    );
    let q = ctx.rt(&["list", "-q"]);
    q.success();
    assert_eq!(q.stdout, "");
}

// ---------------------------------------------------------------- spec

fn spec_in(dir: &std::path::Path, extra: &[&str]) -> Out {
    let mut c = std::process::Command::new(runtime());
    c.arg("spec").args(extra).current_dir(dir);
    run_cmd(&mut c, CMD_TIMEOUT)
}

fn runc_spec(extra: &[&str]) -> Value {
    let d = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(RUNC);
    c.arg("spec").args(extra).current_dir(d.path());
    run_cmd(&mut c, CMD_TIMEOUT).success();
    serde_json::from_slice(&fs::read(d.path().join("config.json")).unwrap()).unwrap()
}

#[test]
fn spec_writes_a_default_config_like_runcs() {
    let d = tempfile::tempdir().unwrap();
    let out = spec_in(d.path(), &[]);
    out.success();
    let v: Value = serde_json::from_slice(
        &fs::read(d.path().join("config.json")).expect("config.json written"),
    )
    .expect("JSON");
    let r = runc_spec(&[]);
    assert_eq!(v["ociVersion"], "1.3.0");
    assert_eq!(v["process"]["terminal"], true);
    assert_eq!(v["process"]["args"], json!(["sh"]));
    assert_eq!(v["root"], r["root"]);
    for key in [
        "user",
        "env",
        "cwd",
        "capabilities",
        "rlimits",
        "noNewPrivileges",
    ] {
        assert_eq!(v["process"][key], r["process"][key], "process.{key}");
    }
    assert_eq!(v["mounts"], r["mounts"]);
    assert_eq!(v["linux"]["maskedPaths"], r["linux"]["maskedPaths"]);
    assert_eq!(v["linux"]["readonlyPaths"], r["linux"]["readonlyPaths"]);
    assert_eq!(v["linux"]["resources"], r["linux"]["resources"]);
    let ns = |c: &Value| {
        let mut n: Vec<String> = c["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    let mut want = ns(&r);
    want.push("cgroup".into()); // runc >= 1.2 adds the cgroup namespace
    want.sort();
    want.dedup();
    assert_eq!(ns(&v), want);
    // The config is usable as is (after switching the terminal off).
    let ctx = Ctx::new();
    make_rootfs(&d.path().join("rootfs"));
    let mut v2 = v.clone();
    v2["process"]["terminal"] = json!(false);
    v2["process"]["args"] = json!(["echo", "spec-ok"]);
    fs::write(d.path().join("config.json"), v2.to_string()).unwrap();
    let id = ctx.id("spec");
    let mut c = ctx.cmd();
    c.arg("run").arg("--bundle").arg(d.path()).arg(&id);
    let o = run_cmd(&mut c, CMD_TIMEOUT);
    o.success();
    assert_eq!(o.stdout, "spec-ok\n");
}

#[test]
fn spec_bundle_flag_and_refuses_to_overwrite() {
    let d = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new(runtime());
    c.arg("spec")
        .arg("--bundle")
        .arg(d.path())
        .current_dir(elsewhere.path());
    run_cmd(&mut c, CMD_TIMEOUT).success();
    assert!(d.path().join("config.json").exists());
    assert!(!elsewhere.path().join("config.json").exists());
    fs::write(d.path().join("config.json"), "{\"mine\": true}").unwrap();
    let again = spec_in(d.path(), &[]);
    again.fails_with(&["config.json"]);
    assert_eq!(
        fs::read_to_string(d.path().join("config.json")).unwrap(),
        "{\"mine\": true}",
        "overwritten"
    );
}

#[test]
fn spec_rootless_adds_user_namespace_and_mappings() {
    let d = tempfile::tempdir().unwrap();
    spec_in(d.path(), &["--rootless"]).success();
    let v: Value =
        serde_json::from_slice(&fs::read(d.path().join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(ns.contains(&"user"), "{ns:?}");
    assert!(
        !ns.contains(&"network"),
        "rootless keeps the host network as runc: {ns:?}"
    );
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(
        v["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": uid, "size": 1}])
    );
    assert_eq!(
        v["linux"]["gidMappings"],
        json!([{"containerID": 0, "hostID": gid, "size": 1}])
    );
    let r = runc_spec(&["--rootless"]);
    assert_eq!(v["linux"]["uidMappings"], r["linux"]["uidMappings"]);
    assert!(v["linux"].get("resources").is_none());
}

// ------------------------------------------------------------ features

#[test]
fn features_reports_versions_namespaces_caps_hooks() {
    let out = run_cmd(
        std::process::Command::new(runtime()).arg("features"),
        CMD_TIMEOUT,
    );
    out.success();
    let f = out.json();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["ociVersionMax"], "1.3.0");
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap_or(&vec![])
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let ns = list(&f["linux"]["namespaces"]);
    for n in [
        "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
    ] {
        assert!(ns.iter().any(|x| x == n), "namespace {n} missing: {ns:?}");
    }
    let caps = list(&f["linux"]["capabilities"]);
    for c in [
        "CAP_CHOWN",
        "CAP_SYS_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_CHECKPOINT_RESTORE",
        "CAP_BPF",
        "CAP_PERFMON",
    ] {
        assert!(
            caps.iter().any(|x| x == c),
            "capability {c} missing: {caps:?}"
        );
    }
    assert!(
        caps.iter().all(|c| cap_number(c).is_some()),
        "unknown names in {caps:?}"
    );
    let hooks = list(&f["hooks"]);
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.iter().any(|x| x == h), "hook {h} missing: {hooks:?}");
    }
    let opts = list(&f["mountOptions"]);
    for o in ["bind", "rbind", "ro", "nosuid", "rprivate"] {
        assert!(opts.iter().any(|x| x == o), "mount option {o} missing");
    }
}

// ----------------------------------------------------------------- log

#[test]
fn log_json_writes_level_msg_time_on_error() {
    let ctx = Ctx::new();
    let log = ctx
        .root_path()
        .join("..")
        .join(format!("onggi-rt-log-{}.json", std::process::id()));
    let log = tempfile::NamedTempFile::new()
        .map(|f| f.into_temp_path())
        .unwrap_or_else(|_| panic!("{}", log.display()));
    let _ = fs::remove_file(&log);
    let id = "no-such-container-for-log";
    let mut c = ctx.cmd();
    c.arg("--log")
        .arg(&log)
        .arg("--log-format")
        .arg("json")
        .arg("state")
        .arg(id);
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    assert_eq!(out.code, 1, "{out}");
    let text = fs::read_to_string(&log).expect("log file written");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let e = lines
        .iter()
        .find(|l| l["level"] == "error")
        .unwrap_or_else(|| panic!("no error line: {text}"));
    assert!(e["msg"].as_str().is_some_and(|m| m.contains(id)), "{e}");
    let t = e["time"].as_str().unwrap_or("");
    assert!(t.len() >= 20 && t.contains('T'), "time is RFC 3339: {e}");
}
