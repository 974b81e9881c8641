//! HTTP client plumbing shared by every client sigward has (registries, Rekor, and later
//! Fulcio and TSAs): one TLS configuration (rustls on aws-lc, system roots plus extra CAs, the
//! system roots read only when a first server certificate is verified; an explicit insecure
//! mode) and body reads that stop at a byte limit.

use std::sync::Arc;

use futures_util::StreamExt;

/// Which servers a client trusts.
#[derive(Debug, Clone)]
pub struct TlsTrust {
    /// Trust the operating system's root certificates.
    pub use_system_roots: bool,
    /// Extra trusted CA certificates (PEM files' contents).
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Accept any certificate. Testing only.
    pub insecure_skip_verify_unsafe: bool,
}

impl Default for TlsTrust {
    fn default() -> Self {
        TlsTrust {
            use_system_roots: true,
            extra_ca_pem: Vec::new(),
            insecure_skip_verify_unsafe: false,
        }
    }
}

/// The rustls client configuration for `trust`, offering HTTP/2 and HTTP/1.1.
///
/// Extra CA certificates are parsed here (a bad one is an error now), but the operating
/// system's roots are only loaded when a server certificate first has to be verified: a
/// process that talks to plain-HTTP servers only, or fails before any TLS handshake completes,
/// never reads them. They are loaded once per configuration (and its clones), with
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` replacing the system's locations when either is set; if no
/// trusted certificate at all can be found then, every handshake fails with an error that
/// says so.
pub fn tls_config(trust: &TlsTrust) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> =
        if trust.insecure_skip_verify_unsafe {
            Arc::new(insecure::AcceptAnyCertificate(provider.clone()))
        } else {
            let extra = roots::parse_extra_roots(&trust.extra_ca_pem)?;
            let system: Option<roots::Loader> = if trust.use_system_roots {
                Some(Box::new(roots::load_system_roots))
            } else {
                None
            };
            Arc::new(roots::LazyRootsVerifier::new(
                provider.clone(),
                extra,
                system,
            ))
        };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body is larger than the limit (announced or as received).
    TooLarge,
    /// The transport failed mid-body.
    Transport(reqwest::Error),
}

/// Reads a response body, refusing it as soon as it exceeds `limit` bytes.
pub async fn read_limited(resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge);
    }
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Transport)?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The innermost cause of a transport error: the useful part ("connection refused",
/// "invalid peer certificate").
pub fn root_cause(e: &reqwest::Error) -> String {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    reason
}

mod roots;

mod insecure {
    //! `--allow-insecure-registry`: a verifier that accepts any certificate. Never the default.
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::{DigitallySignedStruct, SignatureScheme};
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    pub(super) struct AcceptAnyCertificate(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
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
                &self.0.signature_verification_algorithms,
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
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    const CA: &[u8] = include_bytes!("../testdata/ca.pem");
    const OTHER_CA: &[u8] = include_bytes!("../testdata/other-ca.pem");
    const LEAF: &[u8] = include_bytes!("../testdata/leaf.pem");
    const LEAF_KEY: &[u8] = include_bytes!("../testdata/leaf.key");

    /// A whole handshake in memory between a client with `config` and a server presenting the
    /// test leaf certificate (issued by `CA` for `registry.test`).
    fn handshake(config: rustls::ClientConfig, name: &str) -> Result<(), rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(LEAF).unwrap()],
                PrivateKeyDer::from_pem_slice(LEAF_KEY).unwrap(),
            )
            .unwrap();
        let mut client = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from(name.to_string()).unwrap(),
        )
        .unwrap();
        let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
        for _ in 0..10 {
            let mut buf = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut buf).unwrap();
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
                server.process_new_packets()?;
            }
            let mut buf = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut buf).unwrap();
            }
            let mut rd = &buf[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
                client.process_new_packets()?;
            }
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        Err(rustls::Error::General("handshake did not finish".into()))
    }

    fn trust(system: bool, extra: &[&[u8]], insecure: bool) -> TlsTrust {
        TlsTrust {
            use_system_roots: system,
            extra_ca_pem: extra.iter().map(|p| p.to_vec()).collect(),
            insecure_skip_verify_unsafe: insecure,
        }
    }

    #[test]
    fn extra_ca_is_trusted_with_or_without_system_roots() {
        for system in [false, true] {
            let config = tls_config(&trust(system, &[OTHER_CA, CA], false)).unwrap();
            assert_eq!(
                config.alpn_protocols,
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            );
            handshake(config, "registry.test").unwrap();
        }
    }

    #[test]
    fn unknown_issuer_and_wrong_name_fail() {
        let err = handshake(tls_config(&TlsTrust::default()).unwrap(), "registry.test");
        assert_eq!(
            err.unwrap_err(),
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        );
        let err = handshake(
            tls_config(&trust(false, &[OTHER_CA], false)).unwrap(),
            "registry.test",
        );
        assert!(matches!(err, Err(rustls::Error::InvalidCertificate(_))));
        let err = handshake(
            tls_config(&trust(false, &[CA], false)).unwrap(),
            "other.test",
        );
        assert!(matches!(err, Err(rustls::Error::InvalidCertificate(_))));
    }

    #[test]
    fn no_roots_fail_every_handshake() {
        let err = handshake(
            tls_config(&trust(false, &[], false)).unwrap(),
            "registry.test",
        );
        assert!(matches!(err, Err(rustls::Error::General(_))), "{err:?}");
    }

    #[test]
    fn insecure_accepts_any_certificate() {
        handshake(tls_config(&trust(false, &[], true)).unwrap(), "other.test").unwrap();
    }

    #[test]
    fn bad_ca_files_are_refused_up_front() {
        assert!(tls_config(&trust(true, &[b"no certificate here"], false)).is_err());
    }
}
