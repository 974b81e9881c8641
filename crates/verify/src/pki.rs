//! Customer PKI: signatures whose signing certificate chains to CA roots the policy names
//! (OpenShift's `PKI` root of trust, cosign's `--ca-roots`/`--ca-intermediates`), matched on the
//! certificate's email or hostname. No Fulcio, no CT log, no transparency log.
//!
//! As in containers/image (CRI-O), the chain is validated at the verification time `now`,
//! which the caller passes in, for code signing (a certificate that restricts its extended key
//! usage must include code signing). Intermediates
//! come from the policy and from the signature's chain annotation (untrusted: a path must still
//! end at a configured root).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sigstore_verify::crypto::x509::parse_certificate_info;
use sigstore_verify::types::DerCertificate;
use webpki::{anchor_from_trusted_cert, EndEntityCert, KeyUsage};

use crate::{Error, PublicKey};

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER contents.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Most certificates read from one PEM input (roots, intermediates, a chain annotation).
const MAX_CERTIFICATES: usize = 32;

/// A customer's CA roots and intermediates.
#[derive(Debug, Clone)]
pub struct PkiRoots {
    roots: Vec<CertificateDer<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
}

/// Which certificate subject a PKI policy accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkiSubject {
    /// An email SAN.
    Email(String),
    /// A DNS SAN.
    Hostname(String),
}

impl std::fmt::Display for PkiSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PkiSubject::Email(e) => write!(f, "email {e}"),
            PkiSubject::Hostname(h) => write!(f, "hostname {h}"),
        }
    }
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut out = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| Error::MalformedCertificate {
            reason: format!("{what}: {e}"),
        })?;
        out.push(cert);
        if out.len() > MAX_CERTIFICATES {
            return Err(Error::MalformedCertificate {
                reason: format!("{what}: more than {MAX_CERTIFICATES} certificates"),
            });
        }
    }
    Ok(out)
}

impl PkiRoots {
    /// Roots and intermediates from PEM bundles.
    pub fn from_pem(roots_pem: &[u8], intermediates_pem: &[u8]) -> Result<Self, Error> {
        let roots = certificates(roots_pem, "CA roots")?;
        if roots.is_empty() {
            return Err(Error::MalformedCertificate {
                reason: "CA roots: no PEM certificate".into(),
            });
        }
        for root in &roots {
            anchor_from_trusted_cert(root).map_err(|e| Error::MalformedCertificate {
                reason: format!("CA root: {e:?}"),
            })?;
        }
        Ok(PkiRoots {
            roots,
            intermediates: certificates(intermediates_pem, "CA intermediates")?,
        })
    }
}

/// Validates `leaf_pem` (with the signature's own `chain_pem`, untrusted) against `roots` at
/// `now` (Unix seconds) for code signing, checks `subject`, and returns the leaf's public key
/// and the subject that matched.
pub fn verify_certificate(
    leaf_pem: &str,
    chain_pem: Option<&str>,
    roots: &PkiRoots,
    subject: &PkiSubject,
    now: u64,
) -> Result<(PublicKey, String), Error> {
    let leaf = certificates(leaf_pem.as_bytes(), "signing certificate")?
        .into_iter()
        .next()
        .ok_or_else(|| Error::MalformedCertificate {
            reason: "signing certificate: no PEM certificate".into(),
        })?;
    let mut intermediates = roots.intermediates.clone();
    if let Some(chain) = chain_pem {
        intermediates.extend(certificates(chain.as_bytes(), "certificate chain")?);
    }
    let anchors: Vec<_> = roots
        .roots
        .iter()
        .filter_map(|r| anchor_from_trusted_cert(r).ok())
        .collect();
    let end_entity = EndEntityCert::try_from(&leaf).map_err(|e| Error::MalformedCertificate {
        reason: format!("signing certificate: {e:?}"),
    })?;
    end_entity
        .verify_for_usage(
            sigstore_verify::crypto::WEBPKI_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(now)),
            // As Go's x509 (CRI-O): a certificate without an EKU extension allows any usage;
            // one with the extension must list code signing.
            KeyUsage::required_if_present(CODE_SIGNING),
            None,
            None,
        )
        .map_err(|e| Error::Certificate {
            reason: format!("certificate does not chain to the CA roots for code signing: {e:?}"),
        })?;
    let info = parse_certificate_info(&DerCertificate::new(leaf.to_vec())).map_err(|e| {
        Error::MalformedCertificate {
            reason: format!("signing certificate: {e}"),
        }
    })?;
    let matched = match subject {
        PkiSubject::Email(email) => {
            let actual = info.identity.as_ref().map(|i| i.as_str().to_string());
            if actual.as_deref() != Some(email.as_str()) {
                return Err(Error::IdentityMismatch {
                    expected: format!("email {email:?}"),
                    actual,
                });
            }
            email.clone()
        }
        PkiSubject::Hostname(host) => {
            let name = ServerName::try_from(host.as_str()).map_err(|_| Error::InvalidPattern {
                pattern: host.clone(),
                reason: "not a hostname".into(),
            })?;
            end_entity
                .verify_is_valid_for_subject_name(&name)
                .map_err(|_| Error::IdentityMismatch {
                    expected: format!("hostname {host:?}"),
                    actual: info.identity.as_ref().map(|i| i.as_str().to_string()),
                })?;
            host.clone()
        }
    };
    let key = PublicKey::from_der(info.public_key.as_bytes())?;
    Ok((key, matched))
}

/// The public key of the first certificate in `pem`.
pub fn certificate_public_key(pem: &str) -> Result<PublicKey, Error> {
    let cert = certificates(pem.as_bytes(), "certificate")?
        .into_iter()
        .next()
        .ok_or_else(|| Error::MalformedCertificate {
            reason: "no PEM certificate".into(),
        })?;
    let info = parse_certificate_info(&DerCertificate::new(cert.to_vec())).map_err(|e| {
        Error::MalformedCertificate {
            reason: e.to_string(),
        }
    })?;
    PublicKey::from_der(info.public_key.as_bytes())
}
