//! Writes a cosign encrypted key file with scrypt N = 2^4 (cosign writes 2^16), so the
//! `encrypted_key_file` target can open a seed in microseconds instead of ~100 ms and spend its
//! time on the parsing around the KDF. Same layout as `sigward_sign::encrypt_private_key`.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example cheap_key_file -- PASSWORD < key.pkcs8.pem`

use std::io::Read;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let password = std::env::args()
        .nth(1)
        .ok_or("usage: cheap_key_file PASSWORD < key.pem")?;
    let mut pem_text = Vec::new();
    std::io::stdin().read_to_end(&mut pem_text)?;
    let pkcs8 = pem::parse(&pem_text)?;
    if pkcs8.tag() != "PRIVATE KEY" {
        return Err(format!("expected a PRIVATE KEY block, got {:?}", pkcs8.tag()).into());
    }
    // Fixed salt and nonce: the seed is reproducible byte for byte.
    let salt = [7u8; 32];
    let nonce = [9u8; 24];
    let mut box_key = [0u8; 32];
    scrypt::scrypt(
        password.as_bytes(),
        &salt,
        &scrypt::Params::new(4, 8, 1, 32).map_err(|e| format!("scrypt: {e}"))?,
        &mut box_key,
    )
    .map_err(|e| format!("scrypt: {e}"))?;
    let ciphertext = XSalsa20Poly1305::new(Key::from_slice(&box_key))
        .encrypt(Nonce::from_slice(&nonce), pkcs8.contents())
        .map_err(|e| format!("secretbox: {e}"))?;
    let json = serde_json::json!({
        "kdf": {"name": "scrypt", "params": {"N": 16, "r": 8, "p": 1}, "salt": BASE64.encode(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": BASE64.encode(nonce)},
        "ciphertext": BASE64.encode(ciphertext),
    });
    let block = pem::Pem::new("ENCRYPTED SIGSTORE PRIVATE KEY", serde_json::to_vec(&json)?);
    print!(
        "{}",
        pem::encode_config(
            &block,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF)
        )
    );
    Ok(())
}
