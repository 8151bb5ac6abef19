//! Rootless prerequisites. `spec --rootless` is how an unprivileged user
//! gets a config with a user namespace; it must work (and `spec` too).

mod security_common;

use security_common::*;

#[test]
fn spec_and_spec_rootless_write_a_config() {
    let env = Env::new();
    for (i, extra) in [&[][..], &["--rootless"][..]].into_iter().enumerate() {
        let dir = env.path().join(format!("b{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args = vec!["spec", "--bundle", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = Out::from(env.rt(&args));
        assert!(
            out.ok && !out.stderr.contains("panicked"),
            "spec {extra:?}: {out:?}"
        );
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        if !extra.is_empty() {
            let ns = v["linux"]["namespaces"].as_array().unwrap();
            assert!(
                ns.iter().any(|n| n["type"] == "user"),
                "spec --rootless without a user namespace: {v}"
            );
        }
    }
}
