//! Reads a registry token's payload without checking its signature: the registry
//! checks that; the client only needs to know what was granted and for how long.

use crate::access::Action;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;

const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Claims {
    #[serde(default)]
    pub access: Vec<AccessEntry>,
    pub iat: Option<f64>,
    pub exp: Option<f64>,
    pub auth_type: Option<String>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AccessEntry {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub actions: Vec<String>,
    /// GitLab's `meta`: the project, and its tag rules for this user (reference 9.3).
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// An access entry's `meta` as GitLab's registry reads it (reference 1.7 and 9.3);
/// unknown fields are ignored, a field of another shape is absent.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Meta {
    #[serde(default, deserialize_with = "lenient")]
    pub project_path: Option<String>,
    /// Protected tags: one array of RE2 patterns per action, each a rule that denies
    /// this user the action on matching tags.
    #[serde(default, deserialize_with = "lenient")]
    pub tag_deny_access_patterns: Option<TagDenyPatterns>,
    /// Immutable tags: RE2 patterns; a matching tag that exists cannot be overwritten.
    #[serde(default, deserialize_with = "lenient")]
    pub tag_immutable_patterns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct TagDenyPatterns {
    #[serde(default)]
    pub push: Vec<String>,
    #[serde(default)]
    pub delete: Vec<String>,
}

/// A field of an unexpected shape reads as absent: a token service's extra is no reason
/// to refuse the token.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT (expected three dot-separated parts)")]
    Shape,
    #[error("the token's payload is not base64url")]
    Base64,
    #[error("the token's payload is not the expected JSON: {0}")]
    Json(String),
}

impl Claims {
    /// Decodes the payload (the middle part) of a compact JWT.
    pub fn decode(token: &str) -> Result<Claims, JwtError> {
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Shape);
        };
        let bytes = URL_SAFE_ANY_PADDING
            .decode(payload)
            .map_err(|_| JwtError::Base64)?;
        serde_json::from_slice(&bytes).map_err(|e| JwtError::Json(e.to_string()))
    }

    /// Actions granted on one repository (names compare case-insensitively: GitLab
    /// lower-cases them). Only the known actions: see [`Claims::unknown_actions`].
    pub fn granted(&self, repository: &str) -> Vec<Action> {
        let mut actions: Vec<Action> = self
            .entries_for(repository)
            .filter_map(|s| Action::parse(s))
            .collect();
        actions.sort();
        actions.dedup();
        actions
    }

    /// Granted strings that are no registry action, escaped for a message: a token
    /// service that sends them is broken or hostile, and they are dropped.
    pub fn unknown_actions(&self, repository: &str) -> Vec<String> {
        self.entries_for(repository)
            .filter(|s| Action::parse(s).is_none())
            .map(|s| crate::text::sanitize(s, 40))
            .collect()
    }

    fn entries_for<'a>(&'a self, repository: &'a str) -> impl Iterator<Item = &'a String> {
        self.access
            .iter()
            .filter(move |a| a.kind == "repository" && a.name.eq_ignore_ascii_case(repository))
            .flat_map(|a| a.actions.iter())
    }

    /// The tag rules GitLab sent for one repository: every entry's patterns together.
    pub fn tag_rules(&self, repository: &str) -> crate::tag_rules::TagRules {
        let mut rules = crate::tag_rules::TagRules::default();
        for meta in self
            .access
            .iter()
            .filter(|a| a.kind == "repository" && a.name.eq_ignore_ascii_case(repository))
            .filter_map(|a| a.meta.as_ref())
        {
            if let Some(deny) = &meta.tag_deny_access_patterns {
                rules.sent = true;
                rules.deny_push.extend(deny.push.iter().cloned());
            }
            if let Some(immutable) = &meta.tag_immutable_patterns {
                rules.sent = true;
                rules.immutable.extend(immutable.iter().cloned());
            }
        }
        rules
    }

    /// `exp - iat` in whole seconds, when both are present and sane.
    pub fn lifetime_seconds(&self) -> Option<u64> {
        match (self.iat, self.exp) {
            (Some(iat), Some(exp)) if exp >= iat && (exp - iat) < 1e12 => {
                Some((exp - iat).round() as u64)
            }
            _ => None,
        }
    }

    pub fn expires_at(&self) -> Option<u64> {
        self.exp
            .filter(|e| *e >= 0.0 && *e < 1e12)
            .map(|e| e as u64)
    }
}

/// When a CI job token that is a JWT (`glcbt-` then a JWT, the default from GitLab 19.0,
/// possibly after an instance prefix) expires: its payload's `exp`, the job's timeout plus
/// five minutes (reference 9.1). Decoded, never verified; `None` for an opaque token.
pub fn job_token_expires_at(secret: &str) -> Option<u64> {
    const PREFIX: &str = "glcbt-";
    let start = if secret.starts_with(PREFIX) {
        0
    } else {
        secret.find(&format!("-{PREFIX}"))? + 1
    };
    Claims::decode(&secret[start + PREFIX.len()..])
        .ok()?
        .expires_at()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn a_jwt_job_token_says_when_it_expires() {
        let jwt = token(r#"{"exp":1800000000,"iat":1799996100}"#);
        assert_eq!(
            job_token_expires_at(&format!("glcbt-{jwt}")),
            Some(1_800_000_000)
        );
        assert_eq!(
            job_token_expires_at(&format!("acme-glcbt-{jwt}")),
            Some(1_800_000_000)
        );
        assert_eq!(job_token_expires_at("glcbt-64_opaque-Xr4Kq9"), None);
        assert_eq!(job_token_expires_at(&jwt), None, "no prefix, no job token");
    }

    fn token(payload: &str) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_gitlab_claims() {
        let t = token(
            r#"{"auth_type":"build","access":[{"type":"repository","name":"group/app","actions":["pull","push"],"meta":{"project_id":1}}],"jti":"x","iat":1663134192,"nbf":1663134187,"exp":1663134492}"#,
        );
        let c = Claims::decode(&t).unwrap();
        assert_eq!(c.granted("Group/App"), vec![Action::Pull, Action::Push]);
        assert_eq!(c.granted("group/other"), vec![]);
        assert_eq!(c.lifetime_seconds(), Some(300));
        assert_eq!(c.auth_type.as_deref(), Some("build"));
    }

    #[test]
    fn reads_tag_rules_from_meta() {
        let t = token(
            r#"{"access":[{"type":"repository","name":"group/app","actions":["pull","push"],"meta":{"project_path":"group/app","tag_deny_access_patterns":{"push":["^v\\d+$"],"delete":[]},"tag_immutable_patterns":["^release-"]}}]}"#,
        );
        let c = Claims::decode(&t).unwrap();
        let rules = c.tag_rules("group/app");
        assert!(rules.sent);
        assert_eq!(rules.deny_push, vec![r"^v\d+$".to_string()]);
        assert_eq!(rules.immutable, vec!["^release-".to_string()]);
        assert!(!c.tag_rules("group/other").sent);
        // A meta of another shape is no reason to refuse the token.
        let odd = token(
            r#"{"access":[{"type":"repository","name":"g/a","actions":["pull"],"meta":{"tag_immutable_patterns":"x","tag_deny_access_patterns":[1]}}]}"#,
        );
        let c = Claims::decode(&odd).unwrap();
        assert_eq!(c.granted("g/a"), vec![Action::Pull]);
        assert!(!c.tag_rules("g/a").sent);
    }

    #[test]
    fn empty_access_is_nothing_granted() {
        let c = Claims::decode(&token(r#"{"access":[],"iat":1,"exp":901}"#)).unwrap();
        assert!(c.granted("group/app").is_empty());
        assert_eq!(c.lifetime_seconds(), Some(900));
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(Claims::decode("a.b"), Err(JwtError::Shape));
        assert_eq!(Claims::decode("a.b.c.d"), Err(JwtError::Shape));
        assert_eq!(Claims::decode("a.!!!.c"), Err(JwtError::Base64));
        assert!(matches!(
            Claims::decode(&token("[1]")),
            Err(JwtError::Json(_))
        ));
        let c = Claims::decode(&token(r#"{"iat":10,"exp":5}"#)).unwrap();
        assert_eq!(c.lifetime_seconds(), None);
    }
}
