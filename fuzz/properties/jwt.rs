//! A token endpoint's reply is untrusted. Decoding any text must never panic, and a
//! payload wrapped in a compact JWT decodes exactly as serde reads the payload itself.
//!
//! The property itself: the fuzz target runs it on random input (fuzz/run.sh), and
//! tests/suite/fuzz_corpus.rs replays every committed input through it in the gate.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ci_registry_login::jwt::Claims;

pub fn check(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(claims) = Claims::decode(text)
    {
        exercise(&claims);
    }
    let wrapped = format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(data));
    let decoded = Claims::decode(&wrapped).ok();
    let direct = serde_json::from_slice::<Claims>(data).ok();
    assert_eq!(decoded, direct);
    if let Some(claims) = decoded {
        exercise(&claims);
    }
}

/// What the verifier asks of a decoded token; none of it may panic.
fn exercise(claims: &Claims) {
    for entry in &claims.access {
        let granted = claims.granted(&entry.name);
        let mut sorted = granted.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(granted, sorted, "granted actions come sorted and unique");
    }
    if let Some(secs) = claims.lifetime_seconds() {
        assert!(secs < 1_000_000_000_000);
    }
    let _ = claims.expires_at();
}
