//! Signal names as `kill` accepts them: "KILL", "SIGKILL", "9", and the
//! real-time forms "RTMIN+3" / "SIGRTMAX-1".

use nix::sys::signal::Signal;

use crate::error::{Error, Result};

/// Parse a signal argument into its number.
pub fn parse_signal(arg: &str) -> Result<i32> {
    let bad = || Error::InvalidSignal(arg.to_string());
    let s = arg.trim();
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(off) = name.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), off, 1).ok_or_else(bad);
    }
    if let Some(off) = name.strip_prefix("RTMAX") {
        return rt(libc::SIGRTMAX(), off, -1).ok_or_else(bad);
    }
    let full = format!("SIG{name}");
    full.parse::<Signal>().map(|s| s as i32).map_err(|_| bad())
}

/// "" -> base, "+N"/"-N" -> base ± N, staying inside the RT range.
fn rt(base: i32, offset: &str, dir: i32) -> Option<i32> {
    let n = if offset.is_empty() {
        base
    } else {
        let (sign, digits) = offset.split_at(1);
        let v: i32 = digits.parse().ok()?;
        match (sign, dir) {
            ("+", 1) => base + v,
            ("-", -1) => base - v,
            _ => return None,
        }
    };
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&n)
        .then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("KILL").ok(), Some(9));
        assert_eq!(parse_signal("SIGKILL").ok(), Some(9));
        assert_eq!(parse_signal("sigterm").ok(), Some(15));
        assert_eq!(parse_signal("15").ok(), Some(15));
        assert_eq!(parse_signal("SIGRTMIN").ok(), Some(libc::SIGRTMIN()));
        assert_eq!(parse_signal("RTMIN+2").ok(), Some(libc::SIGRTMIN() + 2));
        assert_eq!(parse_signal("SIGRTMAX-1").ok(), Some(libc::SIGRTMAX() - 1));
        for bad in [
            "", "0", "-1", "65", "FOO", "SIGFOO", "RTMIN-1", "RTMAX+1", "RTMIN+99",
        ] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
