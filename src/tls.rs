//! TLS trust: Mozilla's roots (built in, so scratch images work), the system's roots
//! when present (corporate CAs added with update-ca-certificates), and CA bundles from
//! `CI_SERVER_TLS_CA_FILE` / `--ca-file`.
//!
//! The store is built on the first certificate that needs checking, not at start-up:
//! a plain-HTTP registry or an `--no-verify` run never pays for reading the system store.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, OnceLock};

/// Where an extra CA came from, for messages.
#[derive(Debug, Clone)]
pub struct ExtraCa {
    pub origin: String,
    pub certs: Vec<CertificateDer<'static>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{origin}: cannot read {path}: {source}")]
    Read {
        origin: String,
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: no PEM certificate found in {what}")]
    NoCertificate { origin: String, what: String },
}

impl ExtraCa {
    /// Loads a PEM bundle from a file (one file may hold a chain).
    pub fn from_file(origin: &str, path: &str) -> Result<ExtraCa, CaError> {
        let bytes = std::fs::read(path).map_err(|source| CaError::Read {
            origin: origin.into(),
            path: path.into(),
            source,
        })?;
        Self::from_pem(origin, &bytes, path)
    }

    pub fn from_pem(origin: &str, pem: &[u8], what: &str) -> Result<ExtraCa, CaError> {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
            .filter_map(Result::ok)
            .collect();
        if certs.is_empty() {
            return Err(CaError::NoCertificate {
                origin: origin.into(),
                what: what.into(),
            });
        }
        Ok(ExtraCa {
            origin: origin.into(),
            certs,
        })
    }
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration whose roots load lazily.
pub fn client_config(extra: &[ExtraCa]) -> rustls::ClientConfig {
    let provider = provider();
    let verifier = LazyVerifier {
        extra: extra.iter().flat_map(|e| e.certs.iter().cloned()).collect(),
        provider: provider.clone(),
        inner: OnceLock::new(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // A preconfigured client negotiates only what the configuration offers: HTTP/2 where
    // the server takes it, else HTTP/1.1.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

#[derive(Debug)]
struct LazyVerifier {
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl LazyVerifier {
    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.inner
            .get_or_init(|| {
                let mut roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                // Missing or unreadable system stores are normal in scratch images.
                let native = rustls_native_certs::load_native_certs();
                let (added, ignored) = roots.add_parsable_certificates(native.certs);
                tracing::debug!(added, ignored, "system CA certificates");
                for cert in &self.extra {
                    roots.add(cert.clone())?;
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()
                    .map_err(|e| rustls::Error::General(e.to_string()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_pem_bundle_and_refuses_garbage() {
        let pem = include_bytes!("../tests/fixtures/test-ca.crt");
        assert_eq!(
            ExtraCa::from_pem("--ca-file", pem, "x")
                .unwrap()
                .certs
                .len(),
            1
        );
        let err = ExtraCa::from_pem("--ca-file", b"not a certificate", "x.pem").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--ca-file: no PEM certificate found in x.pem"
        );
    }
}
