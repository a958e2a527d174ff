//! Pure text helpers (core layer): what may be printed of text from a server, a tool or
//! a file, and how durations and times read. No I/O: printing lives in `output`.

/// A message as one physical line: any line break or control character inside it (a
/// server's text quoted in it) is escaped, so nothing can forge a log line, a GitLab
/// section marker or a terminal escape.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        std::borrow::Cow::Owned(escape_controls(text.chars()))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn escape_controls(chars: impl Iterator<Item = char>) -> String {
    chars
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Makes text from a server, a tool or a file safe to print: control characters, line
/// breaks among them, are escaped (`\n`, `\u{1b}`: no forged lines and no terminal
/// escapes from a hostile server), long text is cut.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out = escape_controls(text.chars().take(max_chars));
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// `300` -> `5m`, `90` -> `1m30s`, `3600` -> `1h`.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Unix seconds as RFC 3339 UTC (`2026-11-24T21:53:57Z`).
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// A `YYYY-MM-DD` date (what GitLab's API gives for a token's `expires_at`) as Unix
/// seconds at its midnight UTC; `None` when it is no such date.
pub fn date_to_unix(date: &str) -> Option<u64> {
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = y - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(300), "5m");
        assert_eq!(duration(90), "1m30s");
        assert_eq!(duration(3600), "1h");
        assert_eq!(duration(0), "0s");
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(date_to_unix("1970-01-01"), Some(0));
        assert_eq!(date_to_unix("2024-02-29"), Some(1_709_164_800));
        assert_eq!(
            rfc3339(date_to_unix("2026-12-17").unwrap()),
            "2026-12-17T00:00:00Z"
        );
        assert_eq!(date_to_unix("2026-13-01"), None);
        assert_eq!(date_to_unix("soon"), None);
        assert_eq!(date_to_unix("2026-12-01-x"), None);
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_663_134_492), "2022-09-14T05:48:12Z");
        assert_eq!(rfc3339(1_709_208_000), "2024-02-29T12:00:00Z");
    }

    #[test]
    fn sanitize_strips_terminal_escapes() {
        assert_eq!(sanitize("a\x1b[31mb\tc", 100), "a\\u{1b}[31mb\\tc");
        assert_eq!(sanitize("pull\nCI_REGISTRY=x", 100), "pull\\nCI_REGISTRY=x");
        assert_eq!(one_line("a\r\nb"), "a\\r\\nb");
        assert_eq!(one_line("plain"), "plain");
        assert_eq!(sanitize("abcdef", 3), "abc…");
    }
}
