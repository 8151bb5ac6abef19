//! onggi-runtime's fast path for the plain argument shapes
//! (src/bin/onggi-runtime/cli.rs) against clap: wherever the fast path
//! accepts a command line, clap must accept it and give the same result;
//! and it does accept what container managers and `run` users send.

#[allow(dead_code)]
#[path = "../src/bin/onggi-runtime/cli.rs"]
mod cli;

use std::ffi::OsString;

use clap::Parser;

fn argv(words: &[&str]) -> Vec<OsString> {
    std::iter::once("onggi-runtime")
        .chain(words.iter().copied())
        .map(OsString::from)
        .collect()
}

/// The fast path's answer, checked against clap's when it has one.
fn agree(words: &[&str]) -> bool {
    let args = argv(words);
    match cli::fast_parse(&args) {
        None => false,
        Some(fast) => {
            let clap = cli::Cli::try_parse_from(&args)
                .unwrap_or_else(|e| panic!("fast path accepted what clap refuses {words:?}: {e}"));
            assert_eq!(fast, clap, "{words:?}");
            true
        }
    }
}

#[test]
fn the_shapes_managers_send_take_the_fast_path_and_match_clap() {
    for words in [
        &["--root", "/run/x", "run", "--bundle", "/b", "id1"][..],
        &[
            "--root",
            "/r",
            "--log",
            "/l.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "c1",
        ],
        &[
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--console-socket",
            "/s.sock",
            "--no-pivot",
            "--no-new-keyring",
            "--preserve-fds",
            "2",
            "c2",
        ],
        &["--debug", "run", "-d", "-b", "/b", "--pid-file", "/p", "r"],
        &["--rootless", "true", "run", "--detach", "r"],
        &["--root", "/r", "start", "c1"],
        &["--root", "/r", "state", "c1"],
        &["--root", "/r", "kill", "c1"],
        &["--root", "/r", "kill", "c1", "9"],
        &["--root", "/r", "kill", "--all", "c1", "SIGKILL"],
        &["--root", "/r", "kill", "-a", "c1", "KILL"],
        &["--root", "/r", "delete", "c1"],
        &["--root", "/r", "delete", "--force", "c1"],
        &["delete", "-f", "c1"],
    ] {
        assert!(agree(words), "not taken by the fast path: {words:?}");
    }
}

#[test]
fn everything_else_is_left_to_clap() {
    for words in [
        &[][..],
        &["--help"],
        &["-V"],
        &["run", "--help"],
        &["run", "-h", "x"],
        &["help", "run"],
        &["list"],
        &["exec", "id", "sh"],
        &["run", "--bundle=/b", "x"],
        &["--root=/r", "run", "x"],
        &["run", "x", "--bundle", "/b"],
        &["run", "--bundle", "/b", "--bundle", "/c", "x"],
        &["--root", "/a", "--root", "/b", "state", "x"],
        &["run", "--bundle", "", "x"],
        &["run", "--bundle", "-x", "x"],
        &["run", "--preserve-fds", "+2", "x"],
        &["run", "--preserve-fds", "x2", "x"],
        &["run", "--bogus", "x"],
        &["run", "-db", "/b", "x"],
        &["run"],
        &["run", "a", "b"],
        &["start", "--force", "x"],
        &["delete", "x", "y"],
        &["kill", "x", "-9"],
        &["kill", "x", "TERM", "more"],
        &["--log-format", "yaml", "state", "x"],
        &["--root", "/r", "run", "--", "x"],
        &["state", "-"],
        &["frobnicate", "x"],
        &["run", "--root", "/r", "x"],
    ] {
        assert!(
            cli::fast_parse(&argv(words)).is_none(),
            "taken by the fast path: {words:?}"
        );
    }
}

/// Every combination of the options each command takes (in a fixed order,
/// each at most once), with and without global options: wherever the fast
/// path answers, clap answers the same.
#[test]
fn combinations_agree_with_clap() {
    let globals: [&[&str]; 4] = [
        &[],
        &["--root", "/r"],
        &[
            "--root",
            "/r",
            "--log",
            "/l",
            "--log-format",
            "text",
            "--debug",
        ],
        &["--systemd-cgroup", "--rootless", "false"],
    ];
    let create_opts: [&[&str]; 7] = [
        &["--bundle", "/b"],
        &["-b", "bundle dir"],
        &["--console-socket", "/s"],
        &["--pid-file", "/p"],
        &["--no-pivot"],
        &["--no-new-keyring"],
        &["--preserve-fds", "3"],
    ];
    let mut taken = 0;
    for g in globals {
        for mask in 0..(1u32 << create_opts.len()) {
            // -b and --bundle are the same option: never both.
            if mask & 3 == 3 {
                continue;
            }
            let opts: Vec<&str> = create_opts
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .flat_map(|(_, o)| o.iter().copied())
                .collect();
            for (cmd, extra) in [("create", &[][..]), ("run", &[][..]), ("run", &["-d"][..])] {
                let mut w: Vec<&str> = g.to_vec();
                w.push(cmd);
                w.extend_from_slice(extra);
                w.extend_from_slice(&opts);
                w.push("my-id.1");
                taken += agree(&w) as usize;
            }
        }
        for tail in [
            &["start", "x"][..],
            &["state", "x"],
            &["delete", "x"],
            &["delete", "-f", "x"],
            &["kill", "x"],
            &["kill", "-a", "x", "HUP"],
        ] {
            let mut w: Vec<&str> = g.to_vec();
            w.extend_from_slice(tail);
            taken += agree(&w) as usize;
        }
    }
    assert!(
        taken > 1000,
        "the fast path took only {taken} command lines"
    );
}
