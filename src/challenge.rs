//! `WWW-Authenticate` (RFC 7235): one header may hold several challenges, each a scheme
//! with `name=value` parameters; values may be quoted strings with commas and `\`
//! escapes. Commas separate both parameters and challenges, so a bare token after a
//! parameter starts the next challenge.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower case: `bearer`, `basic`, ...
    pub scheme: String,
    /// Names lower case, values as sent (unescaped).
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed WWW-Authenticate header at byte {at}: {what}")]
pub struct ChallengeError {
    pub at: usize,
    pub what: &'static str,
}

/// Parses every challenge in one header value.
pub fn parse(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        p.skip_separators();
        if p.done() {
            return Ok(out);
        }
        let scheme = p.token().ok_or(p.error("expected an auth scheme"))?;
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        loop {
            p.skip_separators();
            let mark = p.i;
            let Some(name) = p.token() else { break };
            // token68 credentials ("Negotiate abc==") may only follow the scheme.
            if challenge.params.is_empty() && p.peek_is_token68_tail() {
                while p.eat(b'=') {}
                challenge.params.push((String::new(), name.to_string()));
                continue;
            }
            p.skip_spaces();
            if !p.eat(b'=') {
                // A bare token starts the next challenge.
                p.i = mark;
                break;
            }
            p.skip_spaces();
            let value = if p.peek() == Some(b'"') {
                p.quoted()?
            } else {
                p.unquoted()
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        out.push(challenge);
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn error(&self, what: &'static str) -> ChallengeError {
        ChallengeError { at: self.i, what }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    /// An RFC 7230 token (also accepts '/' so token68 bodies parse).
    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        while let Some(b) = self.peek() {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&b);
            if !tchar {
                break;
            }
            self.i += 1;
        }
        // Only ASCII bytes were consumed, so the slice is valid UTF-8.
        (self.i > start).then(|| std::str::from_utf8(&self.s[start..self.i]).unwrap_or(""))
    }

    /// An unquoted value. RFC 7235 wants a token, but servers send `realm=https://...`
    /// unquoted, so take everything up to the next separator.
    fn unquoted(&mut self) -> String {
        let start = self.i;
        while !matches!(self.peek(), None | Some(b',' | b' ' | b'\t')) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// After a bare token: only '=' padding followed by the end or a comma.
    fn peek_is_token68_tail(&self) -> bool {
        let rest = &self.s[self.i..];
        let after_pad = rest.iter().skip_while(|b| **b == b'=').copied().next();
        rest.first() == Some(&b'=') && matches!(after_pad, None | Some(b',' | b' '))
    }

    fn quoted(&mut self) -> Result<String, ChallengeError> {
        let open = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ChallengeError {
                        at: open,
                        what: "unterminated quoted string",
                    });
                }
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b) => {
                            out.push(b);
                            self.i += 1;
                        }
                        None => return Err(self.error("escape at end of header")),
                    }
                }
                Some(b) => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_registry_challenge() {
        let c = parse(r#"Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry",scope="repository:group/app:pull,push",error="insufficient_scope""#).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(
            c[0].param("realm"),
            Some("https://gitlab.example.com/jwt/auth")
        );
        assert_eq!(c[0].param("scope"), Some("repository:group/app:pull,push"));
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn several_challenges_and_escapes() {
        let c =
            parse(r#"Basic realm="a \"quoted\", realm", Bearer realm=https://x/jwt , service=s"#)
                .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("realm"), Some(r#"a "quoted", realm"#));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("https://x/jwt"));
        assert_eq!(c[1].param("service"), Some("s"));
    }

    #[test]
    fn token68_and_bare_schemes() {
        let c = parse("Negotiate abc123==, Basic").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].params, vec![(String::new(), "abc123".to_string())]);
        assert_eq!(c[1].scheme, "basic");
    }

    #[test]
    fn broken_headers_are_errors_not_panics() {
        assert!(parse(r#"Bearer realm="open"#).is_err());
        assert!(parse(r#"Bearer realm="x\"#).is_err());
        assert!(parse("=").is_err());
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
