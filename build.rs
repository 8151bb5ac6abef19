//! Links the onggi-runtime binary against musl's static libc when it is
//! installed (Debian: musl-dev), instead of glibc.
//!
//! Why: every runtime call is a new process, and glibc's start-up probes
//! the CPU's caches with ~100 CPUID instructions (init_cpu_features), each
//! a trap to the hypervisor in a VM: a static glibc `int main(){}` takes
//! ~0.7 ms to fork, exec and exit on the project's machine, the musl one
//! ~0.15 ms. std stays the x86_64-unknown-linux-gnu build (no musl target
//! can be installed there); src/bin/onggi-runtime/musl.rs supplies the two
//! glibc-only symbols it needs, and the binary takes its arguments from
//! `main`, not from std::env::args.
//!
//! ONGGI_RUNTIME_LIBC=glibc keeps glibc; =musl fails the build when musl
//! is missing; unset uses musl when it is there.

use std::path::Path;

const MUSL_LIB: &str = "/usr/lib/x86_64-linux-musl";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(onggi_runtime_musl)");
    println!("cargo:rerun-if-env-changed=ONGGI_RUNTIME_LIBC");
    println!("cargo:rerun-if-changed={MUSL_LIB}/libc.a");
    let target = std::env::var("TARGET").unwrap_or_default();
    let choice = std::env::var("ONGGI_RUNTIME_LIBC").unwrap_or_default();
    let have_musl = Path::new(MUSL_LIB).join("libc.a").is_file()
        && Path::new(MUSL_LIB).join("crt1.o").is_file();
    let musl = match choice.as_str() {
        "glibc" => false,
        "musl" if have_musl && target == "x86_64-unknown-linux-gnu" => true,
        "musl" => panic!(
            "ONGGI_RUNTIME_LIBC=musl, but {MUSL_LIB}/libc.a is missing \
             (apt-get install musl-dev) or the target {target} is not x86_64-unknown-linux-gnu"
        ),
        "" => have_musl && target == "x86_64-unknown-linux-gnu",
        other => panic!("ONGGI_RUNTIME_LIBC must be glibc or musl, not {other:?}"),
    };
    if !musl {
        if choice.is_empty() && target == "x86_64-unknown-linux-gnu" {
            println!(
                "cargo:warning=onggi-runtime links glibc: {MUSL_LIB}/libc.a not found \
                 (apt-get install musl-dev for a faster start)"
            );
        }
        return;
    }
    println!("cargo:rustc-cfg=onggi_runtime_musl");
    // No glibc start files; musl's crt1.o calls its __libc_start_main, which
    // calls our C `main`. -L puts musl's libc.a (and its empty libpthread.a,
    // libdl.a, ...) ahead of glibc's for the -lc rustc passes.
    for arg in [
        "-nostartfiles".to_string(),
        format!("-L{MUSL_LIB}"),
        format!("{MUSL_LIB}/crt1.o"),
    ] {
        println!("cargo:rustc-link-arg-bin=onggi-runtime={arg}");
    }
}
