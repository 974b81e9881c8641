//! The `--registry-*` and `--allow-*` flags shared by every command that talks to a registry.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Time allowed for each registry request, body included (e.g. 30s, 2m, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
}

/// `500ms`, `30s`, `2m`, `1h`: the forms cosign's `--timeout` takes that users write.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s or 2m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if d.is_zero() {
        return Err("the timeout must be positive".into());
    }
    Ok(d)
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
            request_timeout: self.timeout,
            ..ClientConfig::default()
        };
        RegistryClient::new(config).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        // The flag's default is the library's.
        assert_eq!(
            parse_duration("30s").unwrap(),
            sigward_limits::REGISTRY_REQUEST_TIMEOUT
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        for bad in ["", "s", "0s", "3d", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
