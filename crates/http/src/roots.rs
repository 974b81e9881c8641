//! Trusted roots loaded on first use.
//!
//! Reading the operating system's roots costs milliseconds (rustls-native-certs parses the CA
//! bundle and every file of the certificates directory, ~290 on Debian), which a short-lived
//! process talking to a plain-HTTP registry, or to no server at all, would pay for nothing.
//! [`LazyRootsVerifier`] is the usual webpki verifier, built the first time a server
//! certificate has to be verified, from the extra CAs (parsed eagerly, so a bad file is reported
//! at start) plus the system's roots.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// What reading the system's roots found.
#[derive(Debug, Default)]
pub(crate) struct SystemRoots {
    /// The certificates read (not yet parsed as trust anchors).
    pub(crate) certs: Vec<CertificateDer<'static>>,
    /// Files or entries that could not be read.
    pub(crate) errors: Vec<String>,
}

/// Reads the system's roots; called at most once per verifier.
pub(crate) type Loader = Box<dyn Fn() -> SystemRoots + Send + Sync>;

/// The system's roots as rustls-native-certs finds them: `SSL_CERT_FILE` and/or `SSL_CERT_DIR`
/// when either is set (they replace the system's locations), else the distribution's CA bundle
/// file and certificates directories.
pub(crate) fn load_system_roots() -> SystemRoots {
    let found = rustls_native_certs::load_native_certs();
    let mut errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
    let overrides: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .filter_map(|var| std::env::var_os(var).map(|v| format!("{var}={}", v.to_string_lossy())))
        .collect();
    if found.certs.is_empty() && !overrides.is_empty() {
        errors.push(format!(
            "{} replaces the system's locations",
            overrides.join(" and ")
        ));
    }
    SystemRoots {
        certs: found.certs,
        errors,
    }
}

/// Parses PEM files' contents into trust anchors; each must hold at least one certificate.
pub(crate) fn parse_extra_roots(pems: &[Vec<u8>]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for pem in pems {
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("CA certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate: {e}"))?;
            found = true;
        }
        if !found {
            return Err("CA file holds no PEM certificate".into());
        }
    }
    Ok(roots)
}

/// A webpki server certificate verifier whose trust anchors (extra CAs + the system's roots)
/// are assembled on the first certificate to verify, then kept.
pub(crate) struct LazyRootsVerifier {
    provider: Arc<CryptoProvider>,
    extra: RootCertStore,
    system: Option<Loader>,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl fmt::Debug for LazyRootsVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyRootsVerifier")
            .field("extra_roots", &self.extra.len())
            .field("system_roots", &self.system.is_some())
            .field("loaded", &self.verifier.get().is_some())
            .finish()
    }
}

impl LazyRootsVerifier {
    /// Trusts `extra`, plus what `system` loads when it is given.
    pub(crate) fn new(
        provider: Arc<CryptoProvider>,
        extra: RootCertStore,
        system: Option<Loader>,
    ) -> Self {
        LazyRootsVerifier {
            provider,
            extra,
            system,
            verifier: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<&Arc<WebPkiServerVerifier>, rustls::Error> {
        self.verifier
            .get_or_init(|| self.build())
            .as_ref()
            .map_err(|reason| rustls::Error::General(reason.clone()))
    }

    fn build(&self) -> Result<Arc<WebPkiServerVerifier>, String> {
        let mut roots = self.extra.clone();
        let mut problems = Vec::new();
        if let Some(load) = &self.system {
            let loaded = load();
            // Unreadable or unparseable system certificates are skipped, as every TLS client
            // does; only finding no trusted certificate at all is an error.
            let (_, unusable) = roots.add_parsable_certificates(loaded.certs);
            problems = loaded.errors;
            if unusable > 0 {
                problems.push(format!(
                    "{unusable} certificate(s) not usable as trust anchors"
                ));
            }
        }
        if roots.is_empty() {
            let mut reason = String::from(
                "cannot verify the server's certificate: no trusted CA certificate was found",
            );
            if self.system.is_none() {
                reason.push_str(" (the system's roots are not used and no CA file was given)");
            } else if !problems.is_empty() {
                problems.truncate(3);
                reason.push_str(&format!(
                    " (reading the system's roots: {})",
                    problems.join("; ")
                ));
            }
            return Err(reason);
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| format!("cannot build the certificate verifier: {e}"))
    }
}

impl ServerCertVerifier for LazyRootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    // The signature checks need no trust anchor: the same functions and algorithms webpki's
    // verifier uses, without loading anything (the ClientHello asks for the schemes).
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
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const CA: &[u8] = include_bytes!("../testdata/ca.pem");
    const OTHER_CA: &[u8] = include_bytes!("../testdata/other-ca.pem");
    const LEAF: &[u8] = include_bytes!("../testdata/leaf.pem");

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    fn der(pem: &[u8]) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem).unwrap()
    }

    /// A loader returning `pems` and counting its calls.
    fn counting(pems: &'static [&'static [u8]], calls: &Arc<AtomicUsize>) -> Option<Loader> {
        let calls = calls.clone();
        Some(Box::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
            SystemRoots {
                certs: pems.iter().map(|p| der(p)).collect(),
                errors: vec!["unreadable: /etc/ssl/certs/broken.pem".into()],
            }
        }))
    }

    fn verify(v: &LazyRootsVerifier, name: &str) -> Result<ServerCertVerified, rustls::Error> {
        // The test certificates are valid from 2026-11-26 for a century.
        let now = UnixTime::since_unix_epoch(Duration::from_secs(1_893_456_000)); // 2030-01-01
        v.verify_server_cert(
            &der(LEAF),
            &[],
            &ServerName::try_from(name.to_string()).unwrap(),
            &[],
            now,
        )
    }

    #[test]
    fn system_roots_are_read_on_the_first_verification_only() {
        let calls = Arc::new(AtomicUsize::new(0));
        let v = LazyRootsVerifier::new(
            provider(),
            RootCertStore::empty(),
            counting(&[OTHER_CA, CA], &calls),
        );
        // What a ClientHello needs does not load them.
        assert!(!v.supported_verify_schemes().is_empty());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        verify(&v, "registry.test").unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        verify(&v, "registry.test").unwrap();
        assert!(matches!(
            verify(&v, "elsewhere.test"),
            Err(rustls::Error::InvalidCertificate(_))
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn untrusted_issuer_is_rejected() {
        let calls = Arc::new(AtomicUsize::new(0));
        let v = LazyRootsVerifier::new(
            provider(),
            RootCertStore::empty(),
            counting(&[OTHER_CA], &calls),
        );
        assert_eq!(
            verify(&v, "registry.test").unwrap_err(),
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        );
    }

    #[test]
    fn extra_roots_add_to_the_system_ones() {
        let calls = Arc::new(AtomicUsize::new(0));
        let v = LazyRootsVerifier::new(
            provider(),
            parse_extra_roots(&[CA.to_vec()]).unwrap(),
            counting(&[OTHER_CA], &calls),
        );
        verify(&v, "registry.test").unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn extra_roots_alone() {
        let v =
            LazyRootsVerifier::new(provider(), parse_extra_roots(&[CA.to_vec()]).unwrap(), None);
        verify(&v, "registry.test").unwrap();
        let v = LazyRootsVerifier::new(
            provider(),
            parse_extra_roots(&[OTHER_CA.to_vec()]).unwrap(),
            None,
        );
        assert!(verify(&v, "registry.test").is_err());
    }

    #[test]
    fn no_roots_at_all_fails_the_handshake_clearly() {
        let v = LazyRootsVerifier::new(
            provider(),
            RootCertStore::empty(),
            Some(Box::new(|| SystemRoots {
                certs: Vec::new(),
                errors: vec!["SSL_CERT_FILE=/nonexistent replaces the system's locations".into()],
            })),
        );
        let Err(rustls::Error::General(reason)) = verify(&v, "registry.test") else {
            panic!("expected a general error");
        };
        assert!(reason.contains("no trusted CA certificate"), "{reason}");
        assert!(reason.contains("SSL_CERT_FILE=/nonexistent"), "{reason}");
        // The HTTPS-to-HTTP fallback of the registry client must not mistake it for a plain
        // HTTP answer or a hang-up.
        let lower = reason.to_ascii_lowercase();
        for word in ["http", "corrupt", "closed", "eof", "reset"] {
            assert!(!lower.contains(word), "{reason}");
        }
        // Failing again, without reading again.
        assert!(matches!(
            verify(&v, "registry.test"),
            Err(rustls::Error::General(_))
        ));

        let v = LazyRootsVerifier::new(provider(), RootCertStore::empty(), None);
        let Err(rustls::Error::General(reason)) = verify(&v, "registry.test") else {
            panic!("expected a general error");
        };
        assert!(reason.contains("no CA file was given"), "{reason}");
    }

    #[test]
    fn extra_roots_must_hold_certificates() {
        assert!(parse_extra_roots(&[b"not PEM".to_vec()]).is_err());
        assert!(parse_extra_roots(&[
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec()
        ])
        .is_err());
        assert_eq!(
            parse_extra_roots(&[[CA, OTHER_CA].concat()]).unwrap().len(),
            2
        );
    }
}
