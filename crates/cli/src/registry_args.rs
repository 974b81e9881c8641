//! The `--registry-*` and `--allow-*` flags shared by every command that talks to a registry.

use std::path::PathBuf;

use sigward_oci::client::{ClientConfig, RegistryClient};
use sigward_oci::credentials::CredentialSource;

/// Registry access flags (cosign's names).
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Use plain HTTP for registries that do not speak HTTPS. Testing only.
    #[arg(long)]
    allow_http_registry: bool,
    /// Skip TLS certificate verification (and allow plain HTTP). Testing only.
    #[arg(long)]
    allow_insecure_registry: bool,
    /// Extra CA certificate (PEM) to trust for registries, on top of the system roots.
    #[arg(long)]
    registry_cacert: Option<PathBuf>,
    /// Registry user name (overrides the docker config).
    #[arg(long, env = "SIGWARD_REGISTRY_USERNAME")]
    registry_username: Option<String>,
    /// Registry password (overrides the docker config).
    #[arg(long, env = "SIGWARD_REGISTRY_PASSWORD", hide_env_values = true)]
    registry_password: Option<String>,
}

impl RegistryArgs {
    /// Builds the registry client these flags describe.
    pub fn client(&self) -> Result<RegistryClient, String> {
        let explicit = match (&self.registry_username, &self.registry_password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, None) => None,
            _ => return Err("--registry-username and --registry-password go together".into()),
        };
        let mut extra_ca_pem = Vec::new();
        if let Some(path) = &self.registry_cacert {
            extra_ca_pem.push(
                std::fs::read(path)
                    .map_err(|e| format!("--registry-cacert {}: {e}", path.display()))?,
            );
        }
        let config = ClientConfig {
            credentials: CredentialSource {
                explicit,
                ..CredentialSource::default()
            },
            extra_ca_pem,
            allow_http: self.allow_http_registry || self.allow_insecure_registry,
            insecure_skip_tls_verify_unsafe: self.allow_insecure_registry,
            ..ClientConfig::default()
        };
        RegistryClient::new(config).map_err(|e| e.to_string())
    }
}
