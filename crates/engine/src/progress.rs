//! Progress bars on stderr (hidden when stderr is not a terminal, where
//! plain status lines go instead).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use onggi_image::{BlobProgress, Digest, Progress};

pub struct Bars {
    multi: MultiProgress,
    tty: bool,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Self {
        Bars {
            multi: MultiProgress::new(),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }
}

struct Bar {
    bar: ProgressBar,
    label: String,
    tty: bool,
    quiet: bool,
}

impl Progress for Bars {
    fn start(&self, what: &str, digest: &Digest, size: u64) -> Box<dyn BlobProgress> {
        let label = format!("{what} {}", digest.short());
        let bar = if self.tty && !self.quiet {
            let b = self.multi.add(ProgressBar::new(size));
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:24} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_message(label.clone());
            b
        } else {
            ProgressBar::hidden()
        };
        Box::new(Bar {
            bar,
            label,
            tty: self.tty,
            quiet: self.quiet,
        })
    }

    fn message(&self, msg: &str) {
        if self.quiet {
            return;
        }
        if self.tty {
            let _ = self.multi.println(msg);
        } else {
            eprintln!("{msg}");
        }
    }
}

impl BlobProgress for Bar {
    fn advance(&mut self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn finish(&mut self, msg: &str) {
        if self.tty {
            self.bar
                .finish_with_message(format!("{} {msg}", self.label));
        } else if !self.quiet {
            eprintln!("{} {msg}", self.label);
        }
    }
}
