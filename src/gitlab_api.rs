//! `GET /api/v4/personal_access_tokens/self`: what an access token (personal, project
//! or group) really carries, before the registry is asked. Any token may read itself,
//! whatever its scopes.

use crate::handshake::error_message;
use crate::http::{Credential, Http, NetError};
use crate::secret::Secret;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct TokenInfo {
    #[serde(default)]
    pub name: Option<String>,
    /// Classic scopes; empty for a fine-grained token.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A fine-grained token's permissions (GA 19.2, reference 9.1): present instead of
    /// `scopes`, whose registry meaning only the live grant tells.
    #[serde(default)]
    pub granular_scopes: Option<serde_json::Value>,
    #[serde(default)]
    pub user_id: Option<u64>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub revoked: Option<bool>,
    /// `YYYY-MM-DD` or null.
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug)]
pub enum SelfInfo {
    Token(TokenInfo),
    /// 401: revoked, expired or unknown; the message says which.
    Refused(String),
    /// The API cannot answer for this token (400: not a personal access token).
    NotApplicable(String),
    Unreachable(String),
}

pub async fn token_self(http: &Http, api_url: &str, secret: &Secret) -> SelfInfo {
    let url = format!(
        "{}/personal_access_tokens/self",
        api_url.trim_end_matches('/')
    );
    match http
        .get(&url, Credential::PrivateToken(secret), false)
        .await
    {
        Ok(reply) => match reply.status {
            200 => match serde_json::from_slice::<TokenInfo>(&reply.body) {
                Ok(info) => SelfInfo::Token(info),
                Err(e) => {
                    SelfInfo::Unreachable(format!("{url} answered 200 with unexpected JSON: {e}"))
                }
            },
            401 => SelfInfo::Refused(api_message(&reply.body)),
            400 | 403 | 404 => SelfInfo::NotApplicable(api_message(&reply.body)),
            status => SelfInfo::Unreachable(format!("{url} answered HTTP {status}")),
        },
        Err(NetError { reason, url, .. }) => SelfInfo::Unreachable(format!("{url}: {reason}")),
    }
}

impl TokenInfo {
    /// A fine-grained token: no classic scopes, permissions of its own.
    pub fn is_fine_grained(&self) -> bool {
        self.scopes.is_empty() && self.granular_scopes.as_ref().is_some_and(|g| !g.is_null())
    }
}

/// `GET /api/v4/user` with the token: its user's name, which tells a project or group
/// access token's bot user from a person (reference 9.2). `None` when the token may not
/// read it (only `read_user`, `read_api` and `api` may) or the API cannot answer.
pub async fn username(http: &Http, api_url: &str, secret: &Secret) -> Option<String> {
    #[derive(Deserialize)]
    struct User {
        username: String,
    }
    let url = format!("{}/user", api_url.trim_end_matches('/'));
    let reply = http
        .get(&url, Credential::PrivateToken(secret), false)
        .await
        .ok()?;
    if reply.status != 200 {
        return None;
    }
    serde_json::from_slice::<User>(&reply.body)
        .ok()
        .map(|u| u.username)
}

/// GitLab API errors come as `{"message": ...}`, `{"error_description": ...}` or
/// the registry's envelope.
fn api_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Api {
        message: Option<serde_json::Value>,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<Api>(body) {
        Ok(Api {
            error_description: Some(d),
            ..
        }) => crate::text::sanitize(&d, 300),
        Ok(Api {
            message: Some(serde_json::Value::String(m)),
            ..
        }) => crate::text::sanitize(&m, 300),
        _ => error_message(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gitlab_api_errors() {
        let revoked = br#"{"error":"invalid_token","error_description":"Token was revoked. You have to re-authorize from the user."}"#;
        assert!(api_message(revoked).starts_with("Token was revoked"));
        assert_eq!(
            api_message(br#"{"message":"401 Unauthorized"}"#),
            "401 Unauthorized"
        );
    }
}
