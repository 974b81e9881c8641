//! Content digests (`sha256:<hex>`), parsed and validated as go-digest v1.0.0 does.
//!
//! A [`Digest`] is always valid once built: its algorithm is one we can compute and its hex is
//! lowercase and exactly as long as that algorithm's output. [`Digest::parse`] checks, in
//! go-digest's order: an `alg:encoded` shape, then whether the algorithm is available (an unknown
//! but well-formed algorithm is [`ReferenceError::DigestUnsupported`], a malformed string is
//! [`ReferenceError::DigestInvalidFormat`]), then the length, then lowercase hex.
//!
//! Which algorithms are available is a build-time choice in Go (which `crypto/*` packages are
//! linked). Standalone digests (descriptors, `Digest::parse`) accept sha256, sha384 and sha512,
//! as go-digest does in any program that links `crypto/sha512` (containerd, registries). Digests
//! inside an image reference accept sha256 only: that is what distribution/reference's own tests
//! expect (`validname@sha512:…` is `ErrDigestUnsupported`) and what go-containerregistry, and so
//! cosign, accept.

use std::fmt;
use std::str::FromStr;

use crate::reference::ReferenceError;

/// A hash algorithm a [`Digest`] can name (go-digest's registered algorithms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// `sha256`, the canonical algorithm for OCI content.
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
}

impl DigestAlgorithm {
    /// Every algorithm, in the order go-digest lists them.
    pub const ALL: [DigestAlgorithm; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// The name used in a digest string (`sha256`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Number of hex characters in a digest of this algorithm (twice the output size).
    pub const fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    fn ring_algorithm(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Self::Sha256 => &aws_lc_rs::digest::SHA256,
            Self::Sha384 => &aws_lc_rs::digest::SHA384,
            Self::Sha512 => &aws_lc_rs::digest::SHA512,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest: an algorithm and the lowercase hex of the hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// Parses `alg:hex`, accepting every [`DigestAlgorithm`]; errors as go-digest's `Parse`.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        Self::parse_with(s, &DigestAlgorithm::ALL)
    }

    /// Parses `alg:hex` as go-digest does when only the algorithms in `available` are linked.
    pub(crate) fn parse_with(
        s: &str,
        available: &[DigestAlgorithm],
    ) -> Result<Digest, ReferenceError> {
        let invalid_format = || ReferenceError::DigestInvalidFormat {
            input: s.to_owned(),
        };
        let (name, encoded) = match s.split_once(':') {
            Some((name, encoded)) if !name.is_empty() && !encoded.is_empty() => (name, encoded),
            _ => return Err(invalid_format()),
        };
        let Some(algorithm) = DigestAlgorithm::from_name(name).filter(|a| available.contains(a))
        else {
            return Err(if is_well_formed_digest(name, encoded) {
                ReferenceError::DigestUnsupported {
                    input: s.to_owned(),
                    algorithm: name.to_owned(),
                }
            } else {
                invalid_format()
            });
        };
        if encoded.len() != algorithm.hex_len() {
            return Err(ReferenceError::DigestInvalidLength {
                input: s.to_owned(),
                expected: algorithm.hex_len(),
                actual: encoded.len(),
            });
        }
        if !encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid_format());
        }
        Ok(Digest {
            algorithm,
            hex: encoded.to_owned(),
        })
    }

    /// The sha256 digest of `bytes` (go-digest's `FromBytes`).
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Self::of(DigestAlgorithm::Sha256, bytes)
    }

    /// The digest of `bytes` under `algorithm`.
    pub fn of(algorithm: DigestAlgorithm, bytes: &[u8]) -> Digest {
        let hash = aws_lc_rs::digest::digest(algorithm.ring_algorithm(), bytes);
        Digest {
            algorithm,
            hex: lower_hex(hash.as_ref()),
        }
    }

    /// Whether `bytes` hash to this digest under its own algorithm.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Self::of(self.algorithm, bytes) == *self
    }

    /// The hash algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex of the hash, without the `alg:` prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// go-digest's `DigestRegexpAnchored`:
/// `^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`, given the halves around the first `:`.
fn is_well_formed_digest(algorithm: &str, encoded: &str) -> bool {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    algorithm.split(['.', '+', '_', '-']).all(component_ok)
        && !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

fn lower_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn sha256_of_abc_is_the_fips_180_vector() {
        let d = Digest::sha256_of(b"abc");
        assert_eq!(d.algorithm(), DigestAlgorithm::Sha256);
        assert_eq!(d.hex(), ABC_SHA256);
        assert_eq!(d.to_string(), format!("sha256:{ABC_SHA256}"));
    }

    #[test]
    fn sha384_and_sha512_of_abc() {
        let d = Digest::of(DigestAlgorithm::Sha384, b"abc");
        assert!(d.hex().starts_with("cb00753f45a35e8bb5a03d699ac65007"));
        assert_eq!(d.hex().len(), 96);
        let d = Digest::of(DigestAlgorithm::Sha512, b"abc");
        assert!(d.hex().starts_with("ddaf35a193617abacc417349ae204131"));
        assert_eq!(d.hex().len(), 128);
    }

    #[test]
    fn matches_recomputes_with_own_algorithm() {
        for alg in DigestAlgorithm::ALL {
            let d = Digest::of(alg, b"payload");
            assert!(d.matches(b"payload"));
            assert!(!d.matches(b"payloaD"));
            assert!(!d.matches(b""));
        }
        let sha256 = Digest::sha256_of(b"x");
        let sha512_of_same = Digest::of(DigestAlgorithm::Sha512, b"x");
        assert_ne!(sha256, sha512_of_same);
    }

    #[test]
    fn parse_round_trips() {
        for alg in DigestAlgorithm::ALL {
            let d = Digest::of(alg, b"round trip");
            let s = d.to_string();
            assert_eq!(Digest::parse(&s).unwrap(), d);
            assert_eq!(s.parse::<Digest>().unwrap(), d);
        }
    }

    #[test]
    fn parse_errors_follow_go_digest() {
        let hex64 = "f".repeat(64);
        let cases: Vec<(String, ReferenceError)> = vec![
            (
                String::new(),
                ReferenceError::DigestInvalidFormat {
                    input: String::new(),
                },
            ),
            (
                "sha256".into(),
                ReferenceError::DigestInvalidFormat {
                    input: "sha256".into(),
                },
            ),
            (
                "sha256:".into(),
                ReferenceError::DigestInvalidFormat {
                    input: "sha256:".into(),
                },
            ),
            (
                format!(":{hex64}"),
                ReferenceError::DigestInvalidFormat {
                    input: format!(":{hex64}"),
                },
            ),
            (
                format!("sha256:{}", "F".repeat(64)),
                ReferenceError::DigestInvalidFormat {
                    input: format!("sha256:{}", "F".repeat(64)),
                },
            ),
            (
                format!("sha256:{}", "g".repeat(64)),
                ReferenceError::DigestInvalidFormat {
                    input: format!("sha256:{}", "g".repeat(64)),
                },
            ),
            (
                "sha256:abc".into(),
                ReferenceError::DigestInvalidLength {
                    input: "sha256:abc".into(),
                    expected: 64,
                    actual: 3,
                },
            ),
            (
                format!("sha512:{hex64}"),
                ReferenceError::DigestInvalidLength {
                    input: format!("sha512:{hex64}"),
                    expected: 128,
                    actual: 64,
                },
            ),
            (
                format!("md5:{hex64}"),
                ReferenceError::DigestUnsupported {
                    input: format!("md5:{hex64}"),
                    algorithm: "md5".into(),
                },
            ),
            (
                format!("SHA256:{hex64}"),
                ReferenceError::DigestInvalidFormat {
                    input: format!("SHA256:{hex64}"),
                },
            ),
            (
                format!("sha256+b64:{hex64}"),
                ReferenceError::DigestUnsupported {
                    input: format!("sha256+b64:{hex64}"),
                    algorithm: "sha256+b64".into(),
                },
            ),
            (
                "foo:bar:baz".into(),
                ReferenceError::DigestInvalidFormat {
                    input: "foo:bar:baz".into(),
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(Digest::parse(&input), Err(want), "input {input:?}");
        }
    }

    #[test]
    fn reference_digests_are_sha256_only() {
        let input = format!("sha512:{}", "f".repeat(128));
        assert!(Digest::parse(&input).is_ok());
        assert_eq!(
            Digest::parse_with(&input, &[DigestAlgorithm::Sha256]),
            Err(ReferenceError::DigestUnsupported {
                input: input.clone(),
                algorithm: "sha512".into(),
            })
        );
    }

    #[test]
    fn error_messages_start_with_go_text() {
        let e = Digest::parse("sha256:abc").unwrap_err();
        assert!(e.to_string().starts_with("invalid checksum digest length"));
        let e = Digest::parse("nope").unwrap_err();
        assert!(e.to_string().starts_with("invalid checksum digest format"));
        let e = Digest::parse(&format!("md5:{}", "0".repeat(32))).unwrap_err();
        assert!(e.to_string().starts_with("unsupported digest algorithm"));
    }

    #[test]
    fn serde_uses_the_string_form() {
        let d = Digest::sha256_of(b"abc");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"sha256:{ABC_SHA256}\""));
        let back: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());
        assert!(serde_json::from_str::<Digest>("42").is_err());
    }

    #[test]
    fn ordering_is_by_algorithm_then_hex() {
        let a = Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap();
        let b = Digest::parse(&format!("sha256:{}", "1".repeat(64))).unwrap();
        let c = Digest::of(DigestAlgorithm::Sha512, b"");
        assert!(a < b && b < c);
    }
}
