//! Pull and unpack of a ~100 MB (compressed) four-layer image from a local
//! registry, against `skopeo copy` + `umoci unpack` of the same image.
//! Slow, so ignored by default:
//! `cargo test --release --test image_perf -- --ignored --nocapture`

mod image_support;

use std::process::Command;
use std::time::Instant;

use image_support::*;

#[test]
#[ignore]
fn pull_is_no_slower_than_skopeo_plus_umoci() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    let layout = t.join("oci");
    let img = format!("{}:perf", layout.display());
    sh(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout));
    sh(Command::new("umoci").args(["new", "--image", &img]));
    for (i, src) in [
        "/usr/lib/python3.11",
        "/usr/libexec",
        "/usr/lib/gcc",
        "/usr/lib/python3",
    ]
    .iter()
    .enumerate()
    {
        let b = t.join(format!("b{i}"));
        sh(Command::new("umoci")
            .args(["unpack", "--image", &img])
            .arg(&b));
        let dest = b.join("rootfs").join(format!("layer{i}"));
        sh(Command::new("cp").arg("-a").arg(src).arg(&dest));
        sh(Command::new("umoci")
            .args(["repack", "--image", &img])
            .arg(&b));
        std::fs::remove_dir_all(&b).expect("rm");
    }
    let reg = Registry::start(false);
    reg.push(&format!("oci:{img}"), "perf/img:v1", &[]);
    let size: u64 = std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("entry").metadata().expect("meta").len())
        .sum();
    let r = format!("{}/perf/img:v1", reg.addr);

    let start = Instant::now();
    sh(Command::new("skopeo")
        .env("HOME", t)
        .args(["copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{r}"))
        .arg(format!("oci:{}:x", t.join("copy").display())));
    let skopeo = start.elapsed();
    let start = Instant::now();
    sh(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:x", t.join("copy").display()))
        .arg(t.join("unpacked")));
    let umoci = start.elapsed();

    let root = t.join("store");
    let start = Instant::now();
    ok(&onggi(&root, &["pull", "-q", &r]));
    let pull = start.elapsed();
    let start = Instant::now();
    let again = onggi(&root, &["pull", &r]);
    let second = start.elapsed();
    ok(&again);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("Copying blob"));

    let reference = skopeo + umoci;
    let ratio = pull.as_secs_f64() / reference.as_secs_f64();
    println!(
        "image {:.1} MB compressed, 4 layers: skopeo copy {:.2}s + umoci unpack {:.2}s = {:.2}s; onggi pull {:.2}s (ratio {ratio:.2}); second pull {:.3}s",
        size as f64 / 1e6,
        skopeo.as_secs_f64(),
        umoci.as_secs_f64(),
        reference.as_secs_f64(),
        pull.as_secs_f64(),
        second.as_secs_f64()
    );
    assert!(
        ratio <= 1.0,
        "onggi pull took {ratio:.2}x skopeo copy + umoci unpack"
    );
}
