//! Key files: generating a pair, reading keys, and asking for the password the way cosign does
//! (`COSIGN_PASSWORD` when set, even empty; otherwise a prompt on the terminal).

use std::io::Read;
use std::path::{Path, PathBuf};

use sigward_limits as limits;
use sigward_sign::PrivateKey;
use sigward_verify::PublicKey;

/// `sigward generate-key-pair`.
#[derive(Debug, clap::Args)]
pub struct GenerateKeyPairArgs {
    /// Write PREFIX.key and PREFIX.pub.
    #[arg(long, default_value = "cosign")]
    output_key_prefix: String,
    /// Overwrite existing key files.
    #[arg(long, short = 'f')]
    force: bool,
}

fn password(confirm: bool) -> Result<Vec<u8>, String> {
    if let Some(pw) = std::env::var_os("COSIGN_PASSWORD") {
        return Ok(pw.into_encoded_bytes());
    }
    let first = rpassword::prompt_password("Enter password for private key: ")
        .map_err(|e| format!("no password: set COSIGN_PASSWORD or run in a terminal ({e})"))?;
    if confirm {
        let second = rpassword::prompt_password("Enter password for private key again: ")
            .map_err(|e| format!("no password: {e}"))?;
        if first != second {
            return Err("passwords do not match".into());
        }
    }
    Ok(first.into_bytes())
}

pub fn generate_key_pair(args: &GenerateKeyPairArgs) -> Result<(), String> {
    let key_path = PathBuf::from(format!("{}.key", args.output_key_prefix));
    let pub_path = PathBuf::from(format!("{}.pub", args.output_key_prefix));
    for p in [&key_path, &pub_path] {
        if p.exists() && !args.force {
            return Err(format!(
                "{} already exists; pass --force to overwrite it",
                p.display()
            ));
        }
    }
    let password = password(true)?;
    let key = PrivateKey::generate_ecdsa_p256().map_err(|e| e.to_string())?;
    let encrypted =
        sigward_sign::encrypt_private_key(&key, &password).map_err(|e| e.to_string())?;
    write_private(&key_path, encrypted.as_bytes())?;
    std::fs::write(&pub_path, key.public_key().to_pem())
        .map_err(|e| format!("{}: {e}", pub_path.display()))?;
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // `mode` applies only when the file is created: tighten an overwritten one too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_key_file(path: &Path) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("key {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(limits::MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("key {}: {e}", path.display()))?;
    if bytes.len() as u64 > limits::MAX_KEY_FILE_BYTES {
        return Err(format!(
            "key {} is larger than {} bytes: not a key file",
            path.display(),
            limits::MAX_KEY_FILE_BYTES
        ));
    }
    Ok(bytes)
}

pub fn load_public_key(path: &Path) -> Result<PublicKey, String> {
    let bytes = read_key_file(path)?;
    PublicKey::parse(&bytes).map_err(|e| format!("public key {}: {e}", path.display()))
}

pub fn load_private_key(path: &Path) -> Result<PrivateKey, String> {
    let bytes = read_key_file(path)?;
    // Only cosign's encrypted formats have a password; do not ask for one otherwise.
    let encrypted = [
        sigward_sign::cosign_key::SIGSTORE_PRIVATE_KEY_PEM_LABEL,
        sigward_sign::cosign_key::COSIGN_PRIVATE_KEY_PEM_LABEL,
    ]
    .iter()
    .any(|label| bytes.windows(label.len()).any(|w| w == label.as_bytes()));
    let password = if encrypted {
        password(false)?
    } else {
        Vec::new()
    };
    sigward_sign::decrypt_private_key(&bytes, &password)
        .map_err(|e| format!("private key {}: {e}", path.display()))
}
