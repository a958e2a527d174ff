//! The one type that holds a secret. Its memory is zeroed on drop, `Debug` prints a
//! redaction, and the only way to the bytes is [`Secret::expose`], so every use is easy
//! to audit (`grep expose`).

use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

#[derive(Clone)]
pub struct Secret(SecretString);

/// What [`Secret::from_input`] found around the secret worth telling the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whitespace {
    None,
    /// Spaces, tabs or inner line breaks remain after trimming one line ending.
    Surrounding,
}

impl Secret {
    /// Takes a secret as a variable delivers it: one trailing line ending is dropped
    /// (as `docker login --password-stdin` does), any other whitespace is kept but
    /// reported, because it is almost always a copy-and-paste accident.
    pub fn from_input(raw: String) -> (Secret, Whitespace) {
        let raw = Zeroizing::new(raw);
        let value = ["\r\n", "\n", "\r"]
            .iter()
            .find_map(|ending| raw.strip_suffix(ending))
            .unwrap_or(&raw);
        let whitespace = if value.trim() != value || value.contains(['\n', '\r']) {
            Whitespace::Surrounding
        } else {
            Whitespace::None
        };
        (Secret::exact(value), whitespace)
    }

    pub fn new(value: impl Into<String>) -> Secret {
        Secret::exact(&Zeroizing::new(value.into()))
    }

    /// The only constructor of the inner value. A `String` with spare capacity is
    /// reallocated on its way into a `Box<str>` and the old buffer freed unwiped; an
    /// exact copy is not, and the caller's buffer is wiped by its `Zeroizing`.
    fn exact(value: &str) -> Secret {
        Secret(SecretString::from(value.to_string()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    pub fn starts_with(&self, prefix: &str) -> bool {
        self.expose().starts_with(prefix)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.expose() == other.expose()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_exactly_one_line_ending() {
        let (s, ws) = Secret::from_input("tok\r\n".into());
        assert_eq!((s.expose(), ws), ("tok", Whitespace::None));
        let (s, ws) = Secret::from_input("tok\n\n".into());
        assert_eq!((s.expose(), ws), ("tok\n", Whitespace::Surrounding));
        let (s, _) = Secret::from_input("tok\r".into());
        assert_eq!(s.expose(), "tok");
    }

    #[test]
    fn keeps_and_reports_other_whitespace() {
        let (s, ws) = Secret::from_input(" tok ".into());
        assert_eq!((s.expose(), ws), (" tok ", Whitespace::Surrounding));
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("glpat-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert!(!format!("{:?}", Some(s)).contains("very-secret"));
    }
}
