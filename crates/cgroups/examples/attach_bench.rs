//! Measures how long a process takes to join a v1 cgroup in 5 hierarchies:
//! `AttachHandles::enter` (writes "0" to each `tasks`, moving only the
//! calling thread) against writing the pid to each `cgroup.procs` (moves the
//! thread group under cgroup_threadgroup_rwsem's write lock, which waits for
//! an RCU grace period when the lock was idle).
//!
//! Run as root on a v1 host: cargo run --release --example attach_bench [ROUNDS]
//! It creates two cgroups below its own, bounces itself between them, moves
//! itself back and removes them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use onggi_cgroups::Cgroup;

const CONTROLLERS: [&str; 5] = ["cpu", "cpuset", "memory", "pids", "devices"];

fn subset(cg: &Cgroup) -> Vec<(String, PathBuf)> {
    CONTROLLERS
        .iter()
        .map(|c| {
            let (_, p) = cg
                .paths()
                .into_iter()
                .find(|(n, _)| n.split(',').any(|n| n == *c))
                .unwrap_or_else(|| panic!("no {c} hierarchy"));
            (c.to_string(), p.to_path_buf())
        })
        .collect()
}

fn write_procs(dirs: &[(String, PathBuf)], pid: &str) {
    for (_, d) in dirs {
        std::fs::write(d.join("cgroup.procs"), pid).expect("write cgroup.procs");
    }
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = v.iter().map(|d| us(*d)).sum::<f64>() / v.len() as f64;
    println!(
        "{name:<44} n={:<4} mean {:>8.1} us  median {:>8.1} us  p90 {:>8.1} us  max {:>8.1} us",
        v.len(),
        mean,
        us(v[v.len() / 2]),
        us(v[v.len() * 9 / 10]),
        us(v[v.len() - 1])
    );
}

// An ordinary glibc program: std::env::args works here.
#[allow(clippy::disallowed_methods)]
fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    if !matches!(
        onggi_cgroups::detect(),
        Ok(onggi_cgroups::Hierarchy::V1 | onggi_cgroups::Hierarchy::Hybrid)
    ) {
        eprintln!("attach_bench measures cgroup v1 only");
        return;
    }
    let id = std::process::id();
    let mut a = Cgroup::resolve(None, &format!("onggi-bench-{id}-a")).expect("resolve");
    let mut b = Cgroup::resolve(None, &format!("onggi-bench-{id}-b")).expect("resolve");
    a.create().expect("create a");
    b.create().expect("create b");
    let (da, db) = (subset(&a), subset(&b));
    // Where we started: the parent of each new directory.
    let home: Vec<(String, PathBuf)> = da
        .iter()
        .map(|(c, p)| (c.clone(), p.parent().expect("parent").to_path_buf()))
        .collect();
    let five = |dirs: &[(String, PathBuf)]| {
        Cgroup::from_v1_dirs(
            dirs.iter()
                .map(|(c, p)| (vec![c.clone()], PathBuf::from("/"), p.clone()))
                .collect(),
        )
    };
    let (ha, hb) = (
        five(&da).attach_handles().expect("handles a"),
        five(&db).attach_handles().expect("handles b"),
    );
    let pid = std::process::id().to_string();

    for gap in [Duration::ZERO, Duration::from_millis(30)] {
        let mut tasks = Vec::with_capacity(rounds * 2);
        let mut procs = Vec::with_capacity(rounds * 2);
        for i in 0..rounds {
            let (h, d) = if i % 2 == 0 { (&ha, &da) } else { (&hb, &db) };
            std::thread::sleep(gap);
            let t = Instant::now();
            h.enter().expect("enter");
            tasks.push(t.elapsed());
            // Bounce back by the other method so each timed move really moves.
            std::thread::sleep(gap);
            let other = if i % 2 == 0 { &db } else { &da };
            let t = Instant::now();
            write_procs(other, &pid);
            procs.push(t.elapsed());
            let _ = d;
        }
        let label = if gap.is_zero() {
            "back to back"
        } else {
            "30 ms apart"
        };
        summary(&format!("enter(): \"0\" -> 5x tasks ({label})"), tasks);
        summary(&format!("pid -> 5x cgroup.procs ({label})"), procs);
    }

    write_procs(&home, &pid);
    // The other hierarchies were never touched by the timed moves, but
    // `create` made directories there too.
    a.destroy().expect("destroy a");
    b.destroy().expect("destroy b");
}
