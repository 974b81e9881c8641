//! cosign's password-protected private key file (go-securesystemslib's `encrypted` format).
//!
//! Data flow, reading: PEM block `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign 2.x) or
//! `ENCRYPTED COSIGN PRIVATE KEY` (older cosign, skopeo) -> JSON
//! `{"kdf":{"name":"scrypt","params":{"N":..,"r":..,"p":..},"salt":b64},
//!   "cipher":{"name":"nacl/secretbox","nonce":b64},"ciphertext":b64}`
//! -> names and scrypt cost checked against our limits *before* any work -> key =
//! scrypt(password, salt, N, r, p, 32) -> NaCl secretbox open (XSalsa20-Poly1305, tag first)
//! -> PKCS#8 DER -> [`PrivateKey`]. Writing is the reverse with fresh random salt and nonce.
//!
//! We write N = 2^15, r = 8, p = 1: every cosign and skopeo release reads it (the oldest
//! decoders accept exactly those parameters; cosign 2.5 and skopeo 1.18 write N = 2^16 and read
//! 2^15, 2^16 and 2^17). We read any parameters within [`MAX_SCRYPT_MEMORY_BYTES`] and
//! [`MAX_SCRYPT_WORK`], so a hostile key file cannot make us spend minutes or gigabytes.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::key::PrivateKey;

/// PEM label cosign 2.x writes for its encrypted private keys.
pub const SIGSTORE_PRIVATE_KEY_PEM_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";

/// PEM label older cosign releases and skopeo write; read, never written.
pub const COSIGN_PRIVATE_KEY_PEM_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// Most memory one scrypt derivation may take (128 · r · N bytes): twice the 128 MiB of the
/// strongest preset go-securesystemslib writes (N = 2^17, r = 8).
pub const MAX_SCRYPT_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// Most scrypt work (N · r · p) one derivation may take: twice that same preset, about a second.
pub const MAX_SCRYPT_WORK: u64 = 1 << 21;

const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";
const WRITE_LOG_N: u8 = 15;
const WRITE_R: u32 = 8;
const WRITE_P: u32 = 1;
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

#[derive(Serialize, Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// Encrypts `key` under `password` as an `ENCRYPTED SIGSTORE PRIVATE KEY` PEM block, the file
/// `cosign generate-key-pair` writes (`cosign sign --key` reads it back).
pub fn encrypt_private_key(key: &PrivateKey, password: &[u8]) -> Result<String, Error> {
    let pkcs8 = key.to_pkcs8_der()?;
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| Error::CryptoFailure {
        operation: "generating the scrypt salt",
    })?;
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::CryptoFailure {
        operation: "generating the secretbox nonce",
    })?;
    let params = scrypt::Params::new(WRITE_LOG_N, WRITE_R, WRITE_P, KEY_LEN).map_err(|_| {
        Error::CryptoFailure {
            operation: "setting scrypt parameters",
        }
    })?;
    let box_key = derive_key(password, &salt, &params)?;
    let ciphertext = XSalsa20Poly1305::new(Key::from_slice(&box_key[..]))
        .encrypt(Nonce::from_slice(&nonce), pkcs8.as_slice())
        .map_err(|_| Error::CryptoFailure {
            operation: "sealing the private key",
        })?;
    let document = EncryptedKey {
        kdf: Kdf {
            name: KDF_NAME.to_owned(),
            params: ScryptParams {
                n: 1 << WRITE_LOG_N,
                r: WRITE_R,
                p: WRITE_P,
            },
            salt: BASE64.encode(salt),
        },
        cipher: Cipher {
            name: CIPHER_NAME.to_owned(),
            nonce: BASE64.encode(nonce),
        },
        ciphertext: BASE64.encode(ciphertext),
    };
    let json = serde_json::to_vec(&document).map_err(|_| Error::CryptoFailure {
        operation: "encoding the key file JSON",
    })?;
    let block = pem::Pem::new(SIGSTORE_PRIVATE_KEY_PEM_LABEL, json);
    Ok(pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    ))
}

/// Reads a private key file as `cosign sign --key` and `cosign import-key-pair` do.
///
/// Encrypted cosign/skopeo files need `password`. Unencrypted `PRIVATE KEY` (PKCS#8),
/// `EC PRIVATE KEY` (SEC1) and `RSA PRIVATE KEY` (PKCS#1) blocks are also read, and for those
/// `password` is ignored. Only the first PEM block counts, as in Go's `pem.Decode`.
pub fn decrypt_private_key(pem_text: &[u8], password: &[u8]) -> Result<PrivateKey, Error> {
    let max = sigward_limits::MAX_KEY_FILE_BYTES;
    if u64::try_from(pem_text.len()).map_or(true, |len| len > max) {
        return Err(Error::KeyFileTooLarge {
            len: pem_text.len(),
            max,
        });
    }
    let block = pem::parse(pem_text).map_err(|e| malformed(format!("PEM: {e}")))?;
    if block.headers().get("Proc-Type").is_some() {
        return Err(malformed(
            "OpenSSL-encrypted PEM (Proc-Type header) is not supported; \
             use cosign import-key-pair or an unencrypted PKCS#8 key"
                .to_owned(),
        ));
    }
    let label = block.tag().to_owned();
    let contents = Zeroizing::new(block.into_contents());
    match label.as_str() {
        SIGSTORE_PRIVATE_KEY_PEM_LABEL | COSIGN_PRIVATE_KEY_PEM_LABEL => {
            let pkcs8 = open(&contents, password)?;
            PrivateKey::from_pkcs8_der(&pkcs8)
        }
        "PRIVATE KEY" => PrivateKey::from_pkcs8_der(&contents),
        "EC PRIVATE KEY" => PrivateKey::from_sec1_der(&contents),
        "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(&contents),
        "ENCRYPTED PRIVATE KEY" => Err(malformed(
            "PKCS#8 password-based encryption (ENCRYPTED PRIVATE KEY) is not supported; \
             use cosign import-key-pair or an unencrypted PKCS#8 key"
                .to_owned(),
        )),
        other => Err(malformed(format!(
            "PEM block is labelled {other:?}, expected \"{SIGSTORE_PRIVATE_KEY_PEM_LABEL}\", \
             \"{COSIGN_PRIVATE_KEY_PEM_LABEL}\" or an unencrypted private key"
        ))),
    }
}

fn malformed(reason: String) -> Error {
    Error::MalformedKeyFile { reason }
}

/// The secretbox plaintext (PKCS#8 DER) of the JSON document `json`.
fn open(json: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let document: EncryptedKey =
        serde_json::from_slice(json).map_err(|e| malformed(format!("key file JSON: {e}")))?;
    if document.kdf.name != KDF_NAME {
        return Err(malformed(format!(
            "unknown kdf {:?}, expected {KDF_NAME:?}",
            document.kdf.name
        )));
    }
    if document.cipher.name != CIPHER_NAME {
        return Err(malformed(format!(
            "unknown cipher {:?}, expected {CIPHER_NAME:?}",
            document.cipher.name
        )));
    }
    let params = checked_scrypt_params(&document.kdf.params)?;
    let salt = decode_base64(&document.kdf.salt, "kdf.salt")?;
    let nonce = decode_base64(&document.cipher.nonce, "cipher.nonce")?;
    if nonce.len() != NONCE_LEN {
        return Err(malformed(format!(
            "cipher.nonce is {} bytes, expected {NONCE_LEN}",
            nonce.len()
        )));
    }
    let ciphertext = decode_base64(&document.ciphertext, "ciphertext")?;
    if ciphertext.len() < TAG_LEN {
        return Err(malformed(format!(
            "ciphertext is {} bytes, shorter than the {TAG_LEN}-byte authenticator",
            ciphertext.len()
        )));
    }
    let box_key = derive_key(password, &salt, &params)?;
    let plaintext = XSalsa20Poly1305::new(Key::from_slice(&box_key[..]))
        .decrypt(Nonce::from_slice(&nonce), ciphertext.as_slice())
        .map_err(|_| Error::WrongPassword)?;
    Ok(Zeroizing::new(plaintext))
}

/// Refuses scrypt parameters beyond our limits before spending anything on them.
fn checked_scrypt_params(params: &ScryptParams) -> Result<scrypt::Params, Error> {
    let ScryptParams { n, r, p } = *params;
    let refuse = |why: &str| malformed(format!("scrypt parameters N={n} r={r} p={p}: {why}"));
    if n < 2 || !n.is_power_of_two() {
        return Err(refuse("N must be a power of two of at least 2"));
    }
    let log_n = u8::try_from(n.trailing_zeros()).map_err(|_| refuse("N too large"))?;
    if log_n > sigward_limits::MAX_SCRYPT_LOG_N {
        return Err(refuse(&format!(
            "N above the limit of 2^{}",
            sigward_limits::MAX_SCRYPT_LOG_N
        )));
    }
    if r == 0 || p == 0 {
        return Err(refuse("r and p must be at least 1"));
    }
    let memory = 128u128 * u128::from(r) * u128::from(n);
    if memory > u128::from(MAX_SCRYPT_MEMORY_BYTES) {
        return Err(refuse(&format!(
            "needs {memory} bytes of memory, above the limit of {MAX_SCRYPT_MEMORY_BYTES}"
        )));
    }
    let work = u128::from(n) * u128::from(r) * u128::from(p);
    if work > u128::from(MAX_SCRYPT_WORK) {
        return Err(refuse(&format!(
            "N·r·p = {work}, above the limit of {MAX_SCRYPT_WORK}"
        )));
    }
    scrypt::Params::new(log_n, r, p, KEY_LEN).map_err(|e| refuse(&e.to_string()))
}

fn derive_key(
    password: &[u8],
    salt: &[u8],
    params: &scrypt::Params,
) -> Result<Zeroizing<[u8; KEY_LEN]>, Error> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(password, salt, params, &mut key[..]).map_err(|_| Error::CryptoFailure {
        operation: "deriving the key with scrypt",
    })?;
    Ok(key)
}

fn decode_base64(text: &str, field: &str) -> Result<Vec<u8>, Error> {
    BASE64
        .decode(text)
        .map_err(|e| malformed(format!("{field} is not standard base64: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use sigward_verify::{KeyAlgorithm, PublicKey};

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $name)).as_slice()
        };
    }

    const MSG: &[u8] = fixture!("msg.txt");

    /// The JSON inside an encrypted key file, for tests that tamper with it.
    fn json_of(pem_text: &str) -> serde_json::Value {
        serde_json::from_slice(pem::parse(pem_text).unwrap().contents()).unwrap()
    }

    fn pem_of(label: &str, json: &serde_json::Value) -> String {
        let block = pem::Pem::new(label, serde_json::to_vec(json).unwrap());
        pem::encode_config(
            &block,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// A cheap-to-open key file (N = 2^4) so tamper tests stay fast; same format otherwise.
    fn cheap_key_file(key: &PrivateKey, password: &[u8]) -> String {
        let pkcs8 = key.to_pkcs8_der().unwrap();
        let salt = [7u8; SALT_LEN];
        let nonce = [9u8; NONCE_LEN];
        let params = scrypt::Params::new(4, 8, 1, KEY_LEN).unwrap();
        let box_key = derive_key(password, &salt, &params).unwrap();
        let ciphertext = XSalsa20Poly1305::new(Key::from_slice(&box_key[..]))
            .encrypt(Nonce::from_slice(&nonce), pkcs8.as_slice())
            .unwrap();
        let json = serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": 16, "r": 8, "p": 1}, "salt": BASE64.encode(salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": BASE64.encode(nonce)},
            "ciphertext": BASE64.encode(ciphertext),
        });
        pem_of(SIGSTORE_PRIVATE_KEY_PEM_LABEL, &json)
    }

    #[test]
    fn round_trip_encrypt_decrypt_sign_verify() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let file = encrypt_private_key(&key, b"correct horse").unwrap();
        assert!(file.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert!(file.ends_with("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        assert!(file.lines().all(|line| line.len() <= 64));

        let decrypted = decrypt_private_key(file.as_bytes(), b"correct horse").unwrap();
        assert_eq!(decrypted.public_key(), key.public_key());
        let signature = decrypted.sign(MSG).unwrap();
        key.public_key().verify(MSG, &signature).unwrap();
    }

    #[test]
    fn written_file_uses_the_universally_readable_parameters() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let json = json_of(&encrypt_private_key(&key, b"").unwrap());
        assert_eq!(json["kdf"]["name"], "scrypt");
        assert_eq!(
            json["kdf"]["params"],
            serde_json::json!({"N": 32768, "r": 8, "p": 1})
        );
        assert_eq!(json["cipher"]["name"], "nacl/secretbox");
        let salt = BASE64
            .decode(json["kdf"]["salt"].as_str().unwrap())
            .unwrap();
        let nonce = BASE64
            .decode(json["cipher"]["nonce"].as_str().unwrap())
            .unwrap();
        assert_eq!((salt.len(), nonce.len()), (32, 24));
    }

    #[test]
    fn json_field_order_matches_go() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let file = encrypt_private_key(&key, b"").unwrap();
        let raw = String::from_utf8(pem::parse(&file).unwrap().into_contents()).unwrap();
        assert!(
            raw.starts_with(r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""#)
        );
        assert!(raw.contains(r#""cipher":{"name":"nacl/secretbox","nonce":""#));
    }

    #[test]
    fn salt_and_nonce_are_fresh_each_time() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let a = json_of(&encrypt_private_key(&key, b"pw").unwrap());
        let b = json_of(&encrypt_private_key(&key, b"pw").unwrap());
        assert_ne!(a["kdf"]["salt"], b["kdf"]["salt"]);
        assert_ne!(a["cipher"]["nonce"], b["cipher"]["nonce"]);
    }

    #[test]
    fn wrong_password_is_wrong_password() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let file = cheap_key_file(&key, b"right");
        assert_eq!(
            decrypt_private_key(file.as_bytes(), b"wrong").unwrap_err(),
            Error::WrongPassword
        );
        assert_eq!(
            decrypt_private_key(file.as_bytes(), b"").unwrap_err(),
            Error::WrongPassword
        );
        assert_eq!(
            decrypt_private_key(file.as_bytes(), b"right")
                .unwrap()
                .public_key(),
            key.public_key()
        );
    }

    #[test]
    fn both_pem_labels_are_read() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let json = json_of(&cheap_key_file(&key, b"pw"));
        for label in [SIGSTORE_PRIVATE_KEY_PEM_LABEL, COSIGN_PRIVATE_KEY_PEM_LABEL] {
            let file = pem_of(label, &json);
            assert_eq!(
                decrypt_private_key(file.as_bytes(), b"pw")
                    .unwrap()
                    .public_key(),
                key.public_key()
            );
        }
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let mut json = json_of(&cheap_key_file(&key, b"pw"));
        let mut ciphertext = BASE64.decode(json["ciphertext"].as_str().unwrap()).unwrap();
        ciphertext[20] ^= 1;
        json["ciphertext"] = BASE64.encode(&ciphertext).into();
        let file = pem_of(SIGSTORE_PRIVATE_KEY_PEM_LABEL, &json);
        assert_eq!(
            decrypt_private_key(file.as_bytes(), b"pw").unwrap_err(),
            Error::WrongPassword
        );
    }

    #[test]
    fn hostile_scrypt_parameters_are_refused_before_any_work() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let base = json_of(&cheap_key_file(&key, b"pw"));
        // Most of these would take hours or terabytes if scrypt ran: the test finishing at all
        // shows the check comes first. Each limit is exceeded by at least one case.
        let refused_by_our_checks = [
            serde_json::json!({"N": 1u64 << 40, "r": 8, "p": 1}),
            serde_json::json!({"N": 1u64 << 21, "r": 1, "p": 1}), // MAX_SCRYPT_LOG_N
            serde_json::json!({"N": 1u64 << 20, "r": 8, "p": 1}), // MAX_SCRYPT_MEMORY_BYTES
            serde_json::json!({"N": 32768, "r": 1024, "p": 1}),   // MAX_SCRYPT_MEMORY_BYTES
            serde_json::json!({"N": 32768, "r": 8, "p": 1_000_000}), // MAX_SCRYPT_WORK
            serde_json::json!({"N": 32768, "r": 4_294_967_295u32, "p": 4_294_967_295u32}),
            serde_json::json!({"N": 1000, "r": 8, "p": 1}),
            serde_json::json!({"N": 0, "r": 8, "p": 1}),
            serde_json::json!({"N": 1, "r": 8, "p": 1}),
            serde_json::json!({"N": 32768, "r": 0, "p": 1}),
            serde_json::json!({"N": 32768, "r": 8, "p": 0}),
        ];
        let refused_by_json_types = [
            serde_json::json!({"N": -1, "r": 8, "p": 1}),
            serde_json::json!({"N": "32768", "r": 8, "p": 1}),
            serde_json::json!({"N": 1e300, "r": 8, "p": 1}),
            serde_json::json!({"N": 32768, "r": 1u64 << 33, "p": 1}),
            serde_json::json!({"r": 8, "p": 1}),
        ];
        for (params, prefix) in refused_by_our_checks
            .iter()
            .map(|p| (p, "scrypt parameters"))
            .chain(refused_by_json_types.iter().map(|p| (p, "key file JSON")))
        {
            let mut json = base.clone();
            json["kdf"]["params"] = params.clone();
            let file = pem_of(SIGSTORE_PRIVATE_KEY_PEM_LABEL, &json);
            match decrypt_private_key(file.as_bytes(), b"pw") {
                Err(Error::MalformedKeyFile { reason }) => {
                    assert!(reason.starts_with(prefix), "{params}: {reason}")
                }
                other => panic!("{params}: {other:?}"),
            }
        }
    }

    #[test]
    fn accepted_parameter_presets_are_within_limits() {
        // go-securesystemslib's Legacy, Standard and OWASP presets must stay readable, and the
        // largest N that sigward_limits allows must stay reachable (with r = 2: scrypt itself
        // needs log2(N) < 16·r).
        for (n, r) in [(1u64 << 15, 8), (1 << 16, 8), (1 << 17, 8), (1 << 20, 2)] {
            checked_scrypt_params(&ScryptParams { n, r, p: 1 }).unwrap();
        }
    }

    #[test]
    fn unknown_names_and_bad_fields_are_malformed() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let base = json_of(&cheap_key_file(&key, b"pw"));
        type Edit = (&'static str, fn(&mut serde_json::Value));
        let edits: [Edit; 8] = [
            ("kdf name", |j| j["kdf"]["name"] = "pbkdf2".into()),
            ("cipher name", |j| j["cipher"]["name"] = "aes-gcm".into()),
            ("salt base64", |j| j["kdf"]["salt"] = "not base64!".into()),
            ("nonce length", |j| {
                j["cipher"]["nonce"] = BASE64.encode([0u8; 12]).into()
            }),
            ("nonce base64", |j| j["cipher"]["nonce"] = "%%%%".into()),
            ("short ciphertext", |j| {
                j["ciphertext"] = BASE64.encode([0u8; 15]).into()
            }),
            ("ciphertext missing", |j| {
                j.as_object_mut().unwrap().remove("ciphertext");
            }),
            ("not an object", |j| *j = serde_json::json!([1, 2, 3])),
        ];
        for (what, edit) in edits {
            let mut json = base.clone();
            edit(&mut json);
            let file = pem_of(SIGSTORE_PRIVATE_KEY_PEM_LABEL, &json);
            assert!(
                matches!(
                    decrypt_private_key(file.as_bytes(), b"pw"),
                    Err(Error::MalformedKeyFile { .. })
                ),
                "{what}"
            );
        }
    }

    #[test]
    fn decrypted_garbage_is_malformed_not_a_panic() {
        // A file that opens correctly but holds no PKCS#8 key.
        let salt = [1u8; SALT_LEN];
        let nonce = [2u8; NONCE_LEN];
        let params = scrypt::Params::new(4, 8, 1, KEY_LEN).unwrap();
        let box_key = derive_key(b"pw", &salt, &params).unwrap();
        let ciphertext = XSalsa20Poly1305::new(Key::from_slice(&box_key[..]))
            .encrypt(Nonce::from_slice(&nonce), &b"reallyimportant"[..])
            .unwrap();
        let json = serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": 16, "r": 8, "p": 1}, "salt": BASE64.encode(salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": BASE64.encode(nonce)},
            "ciphertext": BASE64.encode(ciphertext),
        });
        let file = pem_of(COSIGN_PRIVATE_KEY_PEM_LABEL, &json);
        assert!(matches!(
            decrypt_private_key(file.as_bytes(), b"pw"),
            Err(Error::MalformedKeyFile { .. })
        ));
    }

    #[test]
    fn garbage_and_wrong_labels_are_malformed() {
        for text in [
            &b""[..],
            b"garbage",
            b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
            b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm90IGpzb24=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
            b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMAA=\n-----END EC PRIVATE KEY-----\n",
            fixture!("cosign.pub"),
        ] {
            assert!(
                matches!(
                    decrypt_private_key(text, b"pw"),
                    Err(Error::MalformedKeyFile { .. })
                ),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn oversized_file_is_refused_before_parsing() {
        let huge = vec![b'A'; usize::try_from(sigward_limits::MAX_KEY_FILE_BYTES).unwrap() + 1];
        assert_eq!(
            decrypt_private_key(&huge, b"").unwrap_err(),
            Error::KeyFileTooLarge {
                len: huge.len(),
                max: sigward_limits::MAX_KEY_FILE_BYTES
            }
        );
    }

    #[test]
    fn truncated_key_file_never_panics() {
        let text = fixture!("cosign.key");
        // Every proper truncation breaks the PEM framing, so no scrypt work happens here.
        for len in 0..text.len() - 1 {
            assert!(
                matches!(
                    decrypt_private_key(&text[..len], b"test"),
                    Err(Error::MalformedKeyFile { .. })
                ),
                "truncated to {len}"
            );
        }
    }

    // ---- Files written by the real peers (see tests/data/README.md) ----

    #[test]
    fn cosign_generated_key_decrypts_and_matches_its_public_key() {
        let key = decrypt_private_key(fixture!("cosign.key"), b"test").unwrap();
        let public = PublicKey::from_pem(fixture!("cosign.pub")).unwrap();
        assert_eq!(key.public_key(), public);
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256Sha256);
        // Our PEM of the public key is byte-identical to cosign's .pub file.
        assert_eq!(key.public_key().to_pem().as_bytes(), fixture!("cosign.pub"));
        // What we sign, cosign's public key verifies.
        public.verify(MSG, &key.sign(MSG).unwrap()).unwrap();
    }

    #[test]
    fn cosign_generated_key_refuses_wrong_password() {
        assert_eq!(
            decrypt_private_key(fixture!("cosign.key"), b"tesT").unwrap_err(),
            Error::WrongPassword
        );
    }

    #[test]
    fn cosign_sign_blob_signature_verifies_with_the_decrypted_key() {
        let signature = BASE64
            .decode(
                std::str::from_utf8(fixture!("cosign.msg.sig"))
                    .unwrap()
                    .trim(),
            )
            .unwrap();
        let key = decrypt_private_key(fixture!("cosign.key"), b"test").unwrap();
        key.public_key().verify(MSG, &signature).unwrap();
    }

    #[test]
    fn cosign_key_with_empty_password_decrypts() {
        let key = decrypt_private_key(fixture!("cosign-empty.key"), b"").unwrap();
        assert_eq!(
            key.public_key(),
            PublicKey::from_pem(fixture!("cosign-empty.pub")).unwrap()
        );
        assert_eq!(
            decrypt_private_key(fixture!("cosign-empty.key"), b"test").unwrap_err(),
            Error::WrongPassword
        );
    }

    #[test]
    fn cosign_imported_ed25519_key_decrypts() {
        let key = decrypt_private_key(fixture!("cosign-ed25519.key"), b"test").unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
        assert_eq!(
            key.public_key(),
            PublicKey::from_pem(fixture!("cosign-ed25519.pub")).unwrap()
        );
        let original = decrypt_private_key(fixture!("ed25519.pkcs8.pem"), b"").unwrap();
        assert_eq!(key.public_key(), original.public_key());
        assert_eq!(
            decrypt_private_key(fixture!("cosign-ed25519.key"), b"wrong").unwrap_err(),
            Error::WrongPassword
        );
    }

    #[test]
    fn skopeo_generated_key_decrypts_and_matches_its_public_key() {
        let text = fixture!("skopeo.private");
        assert!(text.starts_with(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----"));
        let key = decrypt_private_key(text, fixture!("skopeo.passphrase")).unwrap();
        assert_eq!(
            key.public_key(),
            PublicKey::from_pem(fixture!("skopeo.pub")).unwrap()
        );
        assert_eq!(
            decrypt_private_key(text, b"wrong").unwrap_err(),
            Error::WrongPassword
        );
    }

    #[test]
    fn unencrypted_pem_forms_are_read() {
        for (text, algorithm) in [
            (fixture!("p384.pkcs8.pem"), KeyAlgorithm::EcdsaP384Sha384),
            (fixture!("p384.sec1.pem"), KeyAlgorithm::EcdsaP384Sha384),
            (fixture!("p521.pkcs8.pem"), KeyAlgorithm::EcdsaP521Sha512),
            (
                fixture!("rsa2048.pkcs1.pem"),
                KeyAlgorithm::Rsa { bits: 2048 },
            ),
            (
                fixture!("rsa2048.pkcs8.pem"),
                KeyAlgorithm::Rsa { bits: 2048 },
            ),
        ] {
            let key = decrypt_private_key(text, b"ignored").unwrap();
            assert_eq!(key.algorithm(), algorithm);
        }
    }

    #[test]
    fn every_key_type_survives_encryption() {
        for text in [
            fixture!("p384.pkcs8.pem"),
            fixture!("p521.pkcs8.pem"),
            fixture!("ed25519.pkcs8.pem"),
            fixture!("rsa2048.pkcs8.pem"),
        ] {
            let key = decrypt_private_key(text, b"").unwrap();
            let file = encrypt_private_key(&key, b"pw").unwrap();
            let back = decrypt_private_key(file.as_bytes(), b"pw").unwrap();
            assert_eq!(back.public_key(), key.public_key());
            key.public_key()
                .verify(MSG, &back.sign(MSG).unwrap())
                .unwrap();
        }
    }
}
