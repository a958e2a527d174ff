//! RS256 JWTs as GitLab signs them for the registry, and an unverified decoder
//! for tests that want to look inside a token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

use super::fixture;

/// Signs tokens with the fixture key `jwt-signing.pk8`, whose certificate is the
/// registry's `rootcertbundle`.
pub struct Signer {
    key: RsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl Signer {
    pub fn from_fixture() -> Signer {
        let der = std::fs::read(fixture("jwt-signing.pk8")).expect("read jwt-signing.pk8");
        let key = RsaKeyPair::from_pkcs8(&der).expect("jwt-signing.pk8 is an RSA PKCS#8 key");
        let kid = libtrust_key_id(&subject_public_key_info(key.public_key().as_ref()));
        Signer {
            key,
            kid,
            rng: SystemRandom::new(),
        }
    }

    /// The libtrust key ID docker distribution looks the key up by.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as DER `SubjectPublicKeyInfo`, as it sits in the certificate.
    pub fn spki(&self) -> Vec<u8> {
        subject_public_key_info(self.key.public_key().as_ref())
    }

    /// `header.claims.signature` with GitLab's header `{"alg","kid","typ"}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"});
        let signing_input = format!("{}.{}", encode_part(&header), encode_part(claims));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .expect("RS256 signing");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Whether `token` carries a valid signature by this key.
    pub fn verifies(&self, token: &str) -> bool {
        let Some((signing_input, signature)) = token.rsplit_once('.') else {
            return false;
        };
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            self.key.public_key().as_ref(),
        )
        .verify(signing_input.as_bytes(), &signature)
        .is_ok()
    }

    /// A random UUID v4, GitLab's `jti`.
    pub fn uuid(&self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes).expect("random bytes");
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

/// A decoded token: its header and claims, signature not checked.
#[derive(Clone, Debug)]
pub struct Jwt {
    pub header: Value,
    pub claims: Value,
}

impl Jwt {
    /// The `access` entries as `(name, actions)` pairs, the part tests assert on most.
    pub fn access(&self) -> Vec<(String, Vec<String>)> {
        self.claims["access"]
            .as_array()
            .expect("access is an array")
            .iter()
            .map(|entry| {
                let actions = entry["actions"].as_array().expect("actions");
                let actions = actions.iter().map(|a| a.as_str().unwrap().to_string());
                (
                    entry["name"].as_str().unwrap().to_string(),
                    actions.collect(),
                )
            })
            .collect()
    }
}

/// Decodes a JWT without verifying it; panics when it is not three base64url JSON parts.
pub fn decode(token: &str) -> Jwt {
    try_decode(token).unwrap_or_else(|| panic!("not a JWT of three base64url JSON parts: {token}"))
}

/// Decodes a JWT without verifying it; None when it is not three base64url JSON parts.
pub fn try_decode(token: &str) -> Option<Jwt> {
    let part = |text: &str| -> Option<Value> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    match token.split('.').collect::<Vec<_>>()[..] {
        [header, claims, _signature] => Some(Jwt {
            header: part(header)?,
            claims: part(claims)?,
        }),
        _ => None,
    }
}

/// Wraps a PKCS#1 `RSAPublicKey` into `SubjectPublicKeyInfo`:
/// SEQUENCE { SEQUENCE { rsaEncryption OID, NULL }, BIT STRING { 0 unused bits, key } }.
fn subject_public_key_info(rsa_public_key: &[u8]) -> Vec<u8> {
    const RSA_ENCRYPTION_ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x00];
    bit_string.extend_from_slice(rsa_public_key);
    let mut body = RSA_ENCRYPTION_ALGORITHM.to_vec();
    body.extend(der(0x03, &bit_string));
    der(0x30, &body)
}

/// A DER tag-length-value.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// libtrust's key ID: base32 of the first 30 bytes of SHA-256(SPKI), without
/// padding, in 12 groups of 4 joined by `:`.
fn libtrust_key_id(spki: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    let encoded = base32(&digest.as_ref()[..30]);
    let groups: Vec<&str> = (0..encoded.len())
        .step_by(4)
        .map(|i| &encoded[i..i + 4])
        .collect();
    groups.join(":")
}

/// RFC 4648 base32 without padding, for inputs whose bit length is a multiple of 5.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u64, 0);
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    out
}
