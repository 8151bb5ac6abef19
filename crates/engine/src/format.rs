//! `onggi images` output: a Docker-like table or JSON.

use onggi_image::ImageRecord;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    pub id: String,
    pub names: Vec<String>,
    pub repo_digests: Vec<String>,
    pub created: Option<String>,
    pub size: u64,
    pub architecture: String,
    pub os: String,
    pub layers: usize,
}

impl From<&ImageRecord> for ImageSummary {
    fn from(r: &ImageRecord) -> Self {
        ImageSummary {
            id: r.id.to_string(),
            names: r.names.clone(),
            repo_digests: r.repo_digests.clone(),
            created: r.created.clone(),
            size: r.size(),
            architecture: r.architecture.clone(),
            os: r.os.clone(),
            layers: r.layers.len(),
        }
    }
}

/// Decimal sizes, as `docker images` shows them.
pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{:.3}", v)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

/// Seconds since the epoch from an RFC 3339 timestamp (fraction and zone ignored but Z/offset-free).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let date = s.get(0..10)?;
    let time = s.get(11..19)?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86400 + hh * 3600 + mm * 60 + ss).ok()
}

fn ago(created: Option<&str>, now: u64) -> String {
    let Some(t) = created.and_then(parse_rfc3339) else {
        return "N/A".to_string();
    };
    let s = now.saturating_sub(t);
    let (n, unit) = match s {
        0..=59 => return "Less than a minute ago".to_string(),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        86_400..=604_799 => (s / 86_400, "day"),
        604_800..=2_591_999 => (s / 604_800, "week"),
        2_592_000..=31_535_999 => (s / 2_592_000, "month"),
        _ => (s / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// The `docker images` table: one row per name, `<none>` for unnamed images.
pub fn images_table(images: &[ImageSummary]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut rows = vec![[
        "REPOSITORY".to_string(),
        "TAG".into(),
        "IMAGE ID".into(),
        "CREATED".into(),
        "SIZE".into(),
    ]];
    for i in images {
        let id =
            i.id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>();
        let names: Vec<(String, String)> = if i.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.names
                .iter()
                .map(|n| match n.rsplit_once(':') {
                    Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                    _ => (n.clone(), "<none>".into()),
                })
                .collect()
        };
        for (repo, tag) in names {
            rows.push([
                repo,
                tag,
                id.clone(),
                ago(i.created.as_deref(), now),
                human_size(i.size),
            ]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| format!("{v:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.261MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            ago(Some("2023-11-14T22:13:20Z"), 1_700_000_000 + 7200),
            "2 hours ago"
        );
    }

    #[test]
    fn table_rows() {
        let s = ImageSummary {
            id: "sha256:0123456789abcdef0123".into(),
            names: vec![
                "docker.io/library/busybox:latest".into(),
                "127.0.0.1:5000/x:v1".into(),
            ],
            repo_digests: vec![],
            created: None,
            size: 2_000_000,
            architecture: "amd64".into(),
            os: "linux".into(),
            layers: 1,
        };
        let t = images_table(&[s]);
        assert!(t.contains("docker.io/library/busybox   latest"), "{t}");
        assert!(t.contains("127.0.0.1:5000/x"), "{t}");
        assert!(t.contains("0123456789ab"));
    }
}
