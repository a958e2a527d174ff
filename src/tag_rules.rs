//! GitLab's protected and immutable container tags, as the registry token carries them
//! (reference 9.3): `meta.tag_deny_access_patterns.push` lists the rules that deny this
//! user a push, `meta.tag_immutable_patterns` the tags nobody may overwrite once they
//! exist. Both are RE2 patterns, matched unanchored as Go's `regexp.MatchString` does;
//! the `regex` crate without Unicode classes reads them as RE2 does (`\d` is ASCII).

use regex::bytes::{Regex, RegexBuilder};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagRules {
    /// Whether the token carried tag rules at all (GitLab sends the arrays, possibly
    /// empty, whenever the project has rules).
    pub sent: bool,
    pub deny_push: Vec<String>,
    pub immutable: Vec<String>,
}

/// What the rules say about pushing one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagCheck {
    /// No rule matches.
    Free,
    /// A protected-tag rule denies this user the push.
    Denied { pattern: String },
    /// An immutable rule matches: the push fails if the tag exists already.
    Immutable { pattern: String },
    /// A pattern that is no RE2 expression: the registry cannot apply it either.
    BadPattern { pattern: String, error: String },
}

/// A pattern as RE2 reads it: ASCII classes, unanchored, bounded size.
fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| crate::text::sanitize(&e.to_string(), 200))
}

impl TagRules {
    /// Denial first (it refuses the push whatever exists), then immutability.
    pub fn check(&self, tag: &str) -> TagCheck {
        for (patterns, denied) in [(&self.deny_push, true), (&self.immutable, false)] {
            for pattern in patterns {
                match compile(pattern) {
                    Err(error) => {
                        return TagCheck::BadPattern {
                            pattern: pattern.clone(),
                            error,
                        };
                    }
                    Ok(re) if re.is_match(tag.as_bytes()) => {
                        let pattern = pattern.clone();
                        return if denied {
                            TagCheck::Denied { pattern }
                        } else {
                            TagCheck::Immutable { pattern }
                        };
                    }
                    Ok(_) => {}
                }
            }
        }
        TagCheck::Free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(deny: &[&str], immutable: &[&str]) -> TagRules {
        TagRules {
            sent: true,
            deny_push: deny.iter().map(|s| s.to_string()).collect(),
            immutable: immutable.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn rules_match_as_re2_does() {
        let r = rules(&[r"^v\d+\.\d+\.\d+$", "main"], &["^release-"]);
        let denied = |p: &str| TagCheck::Denied {
            pattern: p.to_string(),
        };
        let cases: &[(&str, TagCheck)] = &[
            ("v1.2.3", denied(r"^v\d+\.\d+\.\d+$")),
            ("v1.2", TagCheck::Free),
            // Unanchored: "main" matches inside a tag, as Go's MatchString does.
            ("not-main-really", denied("main")),
            (
                "release-7",
                TagCheck::Immutable {
                    pattern: "^release-".into(),
                },
            ),
            ("latest", TagCheck::Free),
            // RE2's \d is ASCII: an Arabic-Indic digit is no digit.
            ("v\u{0661}.1.1", TagCheck::Free),
        ];
        for (tag, want) in cases {
            assert_eq!(&r.check(tag), want, "{tag}");
        }
    }

    #[test]
    fn denial_wins_over_immutability() {
        let r = rules(&["^v"], &["^v"]);
        assert!(matches!(r.check("v1"), TagCheck::Denied { .. }));
    }

    #[test]
    fn a_broken_pattern_is_reported_not_skipped() {
        // Backreferences are not RE2.
        let r = rules(&[r"(a)\1"], &[]);
        assert!(matches!(r.check("aa"), TagCheck::BadPattern { .. }));
        assert_eq!(TagRules::default().check("anything"), TagCheck::Free);
    }
}
