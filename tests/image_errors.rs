//! Bad input: auth failures, unknown images, unreachable registries,
//! corrupt or truncated blobs, malformed manifests, unsupported media types
//! and a full disk. Each must fail with a message naming the reference and
//! the cause, and leave no image, blob or snapshot behind.

mod image_support;

use std::path::Path;
use std::process::Command;

use image_support::*;

/// Nothing recorded, no blob, no snapshot, no temporary file.
fn assert_clean(root: &Path) {
    let images: serde_json::Value =
        serde_json::from_str(&ok(&onggi(root, &["images", "--format", "json"]))).expect("json");
    assert_eq!(images, serde_json::json!([]), "an image was recorded");
    for sub in ["blobs/sha256", "snapshots", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(root.join(sub))
            .expect("read_dir")
            .collect();
        assert!(left.is_empty(), "{sub} not empty: {left:?}");
    }
}

fn manifest_of(reg: &Registry, repo: &str, tag: &str) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sSf",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
    ]);
    if reg.auth {
        cmd.args(["-u", &reg.creds()]);
    }
    let out = sh(cmd.arg(format!("http://{}/v2/{repo}/manifests/{tag}", reg.addr)));
    serde_json::from_slice(&out.stdout).expect("manifest json")
}

#[test]
fn auth_and_registry_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = build_layout(tmp.path());
    let reg = Registry::start(true);
    reg.push(&format!("oci:{}:img", layout.display()), "t/a:v1", &[]);
    let root = tmp.path().join("store");
    let r = format!("{}/t/a:v1", reg.addr);

    let msg = fails(&onggi(&root, &["pull", &r]));
    assert!(
        msg.contains(&r) && msg.contains("credentials required"),
        "{msg}"
    );
    assert_clean(&root);
    let msg = fails(&onggi(&root, &["pull", "--creds", "onggi:wrong", &r]));
    assert!(
        msg.contains(&r) && msg.contains("wrong user name or password"),
        "{msg}"
    );
    assert_clean(&root);

    let creds = reg.creds();
    let missing = format!("{}/t/a:nope", reg.addr);
    let msg = fails(&onggi(&root, &["pull", "--creds", &creds, &missing]));
    assert!(
        msg.contains(&missing) && msg.contains("not found") && msg.contains("MANIFEST_UNKNOWN"),
        "{msg}"
    );
    let msg = fails(&onggi(
        &root,
        &[
            "pull",
            "--creds",
            &creds,
            &format!("{}/t/none:v1", reg.addr),
        ],
    ));
    assert!(msg.contains("t/none") && msg.contains("not found"), "{msg}");
    assert_clean(&root);

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let unreachable = format!("127.0.0.1:{dead}/t/a:v1");
    let msg = fails(&onggi(&root, &["pull", &unreachable]));
    assert!(
        msg.contains(&unreachable) && msg.contains("cannot reach"),
        "{msg}"
    );
    let msg = fails(&onggi(&root, &["pull", "Bad/Name"]));
    assert!(
        msg.contains("Bad/Name") && msg.contains("invalid image reference"),
        "{msg}"
    );
    assert_clean(&root);

    ok(&onggi(&root, &["pull", "--creds", &creds, &r]));
}

#[test]
fn corrupt_content_is_refused_and_nothing_is_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = build_layout(tmp.path());
    let reg = Registry::start(false);
    let src = format!("oci:{}:img", layout.display());
    reg.push(&src, "t/img:v1", &[]);
    let root = tmp.path().join("store");
    let manifest = manifest_of(&reg, "t/img", "v1");
    let layers = manifest["layers"].as_array().expect("layers").clone();

    // An unsupported layer media type, refused before any download.
    let mut odd = manifest.clone();
    odd["layers"][0]["mediaType"] = "application/vnd.example.unknown".into();
    reg.put_manifest(
        "t/img",
        "odd",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&odd).expect("json"),
    );
    let r = format!("{}/t/img:odd", reg.addr);
    let msg = fails(&onggi(&root, &["pull", &r]));
    assert!(
        msg.contains(&r)
            && msg.contains("unsupported media type")
            && msg.contains("vnd.example.unknown"),
        "{msg}"
    );
    assert_clean(&root);

    // A full disk: a 1 MiB store cannot hold the image.
    let small = tmp.path().join("small");
    std::fs::create_dir_all(&small).expect("mkdir");
    sh(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small));
    let full = onggi(&small, &["pull", &format!("{}/t/img:v1", reg.addr)]);
    let msg = String::from_utf8_lossy(&full.stderr).into_owned();
    let clean = std::panic::catch_unwind(|| assert_clean(&small));
    sh(Command::new("umount").arg(&small));
    assert!(
        !full.status.success()
            && msg.contains("No space left on device")
            && msg.contains("t/img:v1"),
        "{msg}"
    );
    assert!(clean.is_ok(), "full disk left content behind");

    // A truncated layer, then a corrupted one (same size, other bytes).
    let hex = |l: &serde_json::Value| l["digest"].as_str().expect("digest")[7..].to_string();
    let first = reg.blob_file(&hex(&layers[0]));
    let data = std::fs::read(&first).expect("read blob");
    std::fs::write(&first, &data[..data.len() / 2]).expect("truncate");
    let r = format!("{}/t/img:v1", reg.addr);
    let msg = fails(&onggi(&root, &["pull", &r]));
    assert!(
        msg.contains(&r) && msg.contains(&hex(&layers[0])) && msg.contains("size mismatch"),
        "{msg}"
    );
    assert_clean(&root);
    let mut bad = data.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(&first, &bad).expect("corrupt");
    let msg = fails(&onggi(&root, &["pull", &r]));
    assert!(msg.contains(&r) && msg.contains("digest mismatch"), "{msg}");
    assert_clean(&root);
    std::fs::write(&first, &data).expect("restore");

    // A malformed manifest (a registry will not serve one, so a stub does).
    let stub = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let stub_addr = stub.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in stub.incoming().take(8) {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut conn, &mut buf);
            let body = "{\"schemaVersion\": 2, \"layers\": 12";
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut conn, resp.as_bytes());
        }
    });
    let stub_ref = format!("{stub_addr}/t/img:v1");
    let msg = fails(&onggi(&root, &["pull", &stub_ref]));
    assert!(
        msg.contains(&stub_ref) && msg.contains("malformed"),
        "{msg}"
    );
    let wanted = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let by_digest = format!("{stub_addr}/t/img@{wanted}");
    let msg = fails(&onggi(&root, &["pull", &by_digest]));
    assert!(
        msg.contains(&by_digest) && msg.contains("digest mismatch"),
        "{msg}"
    );
    assert_clean(&root);

    // After all that, a clean pull works, by tag and by digest.
    ok(&onggi(&root, &["pull", &r]));
    let digest = ok(&onggi(&root, &["image", "inspect", &r]));
    let inspect: serde_json::Value = serde_json::from_str(&digest).expect("json");
    let digest = inspect[0]["ManifestDescriptor"]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    ok(&onggi(
        &root,
        &["pull", &format!("{}/t/img@{digest}", reg.addr)],
    ));
    let images: serde_json::Value =
        serde_json::from_str(&ok(&onggi(&root, &["images", "--format", "json"]))).expect("json");
    assert_eq!(images.as_array().expect("array").len(), 1);
    assert!(images[0]["RepoDigests"][0]
        .as_str()
        .expect("digest")
        .ends_with(&digest));
}
