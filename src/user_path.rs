//! Paths from flags and variables (`--auth-file`, `DOCKER_CONFIG`, ...). Where a file
//! goes is the user's choice, relative paths included, as with docker; but some values
//! are never a path anyone meant (empty, a line break, a URL, padding from a copy and
//! paste) and are refused before anything is written. Callers name the flag or variable.

use std::path::Path;

/// The longest path Linux accepts (PATH_MAX, less its NUL).
const MAX_BYTES: usize = 4095;

/// Why `path` cannot be a path a person meant, if it cannot.
pub fn problem(path: &Path) -> Option<&'static str> {
    let Some(text) = path.to_str() else {
        return Some("is not valid UTF-8");
    };
    if text.is_empty() {
        Some("is empty")
    } else if text.chars().any(char::is_control) {
        Some("contains a line break or another control character")
    } else if text.trim() != text {
        Some("has spaces around it")
    } else if text.len() > MAX_BYTES {
        Some("is longer than any path can be (4095 bytes)")
    } else if text.contains("://") {
        Some("is a URL, not a path")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_no_one_means_and_keeps_the_rest() {
        for bad in ["", " /tmp/x", "/tmp/x\n", "a\nb", "https://host/x"] {
            assert!(problem(Path::new(bad)).is_some(), "{bad:?}");
        }
        assert!(problem(Path::new(&"x".repeat(4096))).is_some());
        for good in [
            "config.json",
            "../x/auth.json",
            "/kaniko/.docker",
            "host:5000",
            "dir with space/x",
        ] {
            assert_eq!(problem(Path::new(good)), None, "{good:?}");
        }
    }
}
