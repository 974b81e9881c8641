//! Where registry credentials come from: explicit flags, then the docker `config.json`
//! (`auths`, `credHelpers`, `credsStore`), else anonymous.
//!
//! Lookup follows the docker CLI: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`;
//! a per-registry `credHelpers` entry wins over `credsStore`, which wins over `auths`; Docker Hub
//! is stored under `https://index.docker.io/v1/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

use crate::RegistryError;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// No credentials: anonymous access.
    Anonymous,
    /// A user name and password (or personal access token).
    Basic {
        /// User name.
        username: String,
        /// Password or token.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in docker's config).
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Anonymous => f.write_str("Anonymous"),
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// How the client finds credentials for a registry.
#[derive(Debug, Clone, Default)]
pub struct CredentialSource {
    /// `--registry-username` / `--registry-password`: used for every registry when set.
    pub explicit: Option<(String, String)>,
    /// The docker config file; `None` means the default location.
    pub docker_config: Option<PathBuf>,
    /// Do not read any docker config (tests, or a webhook that gets pull secrets instead).
    pub ignore_docker_config: bool,
    /// Kubernetes pull secrets, in order: (name, contents of `.dockerconfigjson` or the legacy
    /// `.dockercfg`). The first with an entry for the registry wins; only their `auths` are
    /// read (a secret never names a credential helper to run).
    pub pull_secrets: Vec<(String, Vec<u8>)>,
}

impl CredentialSource {
    /// Resolves the credential for `registry` (a host[:port] as in an image reference).
    pub fn credential_for(&self, registry: &str) -> Result<Credential, RegistryError> {
        if let Some((username, password)) = &self.explicit {
            return Ok(Credential::Basic {
                username: username.clone(),
                password: password.clone(),
            });
        }
        for (name, contents) in &self.pull_secrets {
            let origin = Path::new(name);
            let bad = |e: serde_json::Error| RegistryError::Credentials {
                registry: registry.to_string(),
                reason: format!("pull secret {name}: not a docker config: {e}"),
            };
            let value: serde_json::Value = serde_json::from_slice(contents).map_err(bad)?;
            // `.dockercfg` is the bare `auths` map.
            let config: DockerConfig = if value.get("auths").is_some() {
                serde_json::from_value(value).map_err(bad)?
            } else {
                DockerConfig {
                    auths: serde_json::from_value(value).map_err(bad)?,
                    ..DockerConfig::default()
                }
            };
            let config = DockerConfig {
                auths: config.auths,
                ..DockerConfig::default()
            };
            match config.credential_for(registry, origin)? {
                Credential::Anonymous => continue,
                found => return Ok(found),
            }
        }
        if self.ignore_docker_config {
            return Ok(Credential::Anonymous);
        }
        let Some(path) = self.docker_config.clone().or_else(default_config_path) else {
            return Ok(Credential::Anonymous);
        };
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credential::Anonymous),
            Err(e) => {
                return Err(RegistryError::Credentials {
                    registry: registry.to_string(),
                    reason: format!("reading {}: {e}", path.display()),
                })
            }
        };
        let config: DockerConfig =
            serde_json::from_slice(&text).map_err(|e| RegistryError::Credentials {
                registry: registry.to_string(),
                reason: format!("{} is not a valid docker config: {e}", path.display()),
            })?;
        config.credential_for(registry, &path)
    }
}

fn default_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(Path::new(&dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker").join("config.json"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The key docker uses for a registry: Docker Hub has its historical URL.
fn config_key(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        other => other,
    }
}

/// `https://host:port/v1/` -> `host:port`, as the docker CLI matches `auths` keys.
fn normalise_key(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

impl DockerConfig {
    fn credential_for(&self, registry: &str, path: &Path) -> Result<Credential, RegistryError> {
        let key = config_key(registry);
        let host = normalise_key(key);
        let helper = self
            .cred_helpers
            .iter()
            .find(|(k, _)| normalise_key(k) == host)
            .map(|(_, v)| v)
            .or(self.creds_store.as_ref());
        if let Some(helper) = helper {
            return run_credential_helper(helper, key, registry);
        }
        let entry = self.auths.get(key).or_else(|| {
            self.auths
                .iter()
                .find(|(k, _)| normalise_key(k) == host)
                .map(|(_, v)| v)
        });
        let Some(entry) = entry else {
            return Ok(Credential::Anonymous);
        };
        let bad = |reason: String| RegistryError::Credentials {
            registry: registry.to_string(),
            reason: format!("{}: {reason}", path.display()),
        };
        if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Credential::IdentityToken(token.clone()));
        }
        if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|e| bad(format!("\"auth\" is not base64: {e}")))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not UTF-8".into()))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad("\"auth\" is not user:password".into()))?;
            return Ok(Credential::Basic {
                username: username.to_string(),
                password: password.to_string(),
            });
        }
        match (&entry.username, &entry.password) {
            (Some(u), Some(p)) if !u.is_empty() => Ok(Credential::Basic {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => Ok(Credential::Anonymous),
        }
    }
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin, as docker does.
fn run_credential_helper(
    helper: &str,
    server: &str,
    registry: &str,
) -> Result<Credential, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let fail = |reason: String| RegistryError::Credentials {
        registry: registry.to_string(),
        reason: format!("{program}: {reason}"),
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| fail(format!("writing request: {e}")))?;
    }
    let output = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stdout);
        // "credentials not found in native keychain" means: anonymous.
        if text.contains("credentials not found") {
            return Ok(Credential::Anonymous);
        }
        return Err(fail(format!(
            "exited with {}: {}",
            output.status,
            text.trim()
        )));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct HelperAnswer {
        username: String,
        secret: String,
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("unreadable answer: {e}")))?;
    if answer.username == "<token>" {
        return Ok(Credential::IdentityToken(answer.secret));
    }
    Ok(Credential::Basic {
        username: answer.username,
        password: answer.secret,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn source_with(config: &str) -> (CredentialSource, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "sigward-cred-{}-{}",
            std::process::id(),
            config.len() + config.bytes().map(usize::from).sum::<usize>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(&path, config).unwrap();
        (
            CredentialSource {
                docker_config: Some(path.clone()),
                ..Default::default()
            },
            dir,
        )
    }

    #[test]
    fn pull_secrets_come_first_and_never_run_helpers() {
        let src = CredentialSource {
            ignore_docker_config: true,
            pull_secrets: vec![
                (
                    "ns/helper".into(),
                    br#"{"auths":{},"credsStore":"evil","credHelpers":{"reg.example":"evil"}}"#
                        .to_vec(),
                ),
                (
                    "ns/legacy".into(),
                    br#"{"https://reg.example/v1/":{"auth":"dTpw"}}"#.to_vec(),
                ),
                (
                    "ns/modern".into(),
                    br#"{"auths":{"reg.example":{"username":"x","password":"y"},
                        "other.example":{"username":"o","password":"p"}}}"#
                        .to_vec(),
                ),
            ],
            ..Default::default()
        };
        // The legacy secret is listed before the modern one: it wins for reg.example.
        assert_eq!(
            src.credential_for("reg.example").unwrap(),
            Credential::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(
            src.credential_for("other.example").unwrap(),
            Credential::Basic {
                username: "o".into(),
                password: "p".into()
            }
        );
        assert_eq!(
            src.credential_for("third.example").unwrap(),
            Credential::Anonymous
        );
        let broken = CredentialSource {
            pull_secrets: vec![("ns/broken".into(), b"not json".to_vec())],
            ..Default::default()
        };
        let e = broken
            .credential_for("reg.example")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pull secret ns/broken"), "{e}");
    }

    #[test]
    fn reads_auths_in_every_key_spelling() {
        let (src, _dir) = source_with(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="},
                "https://reg.example:5000/v2/":{"username":"u","password":"p"},
                "other.example":{"identitytoken":"refresh"}}}"#,
        );
        assert_eq!(
            src.credential_for("docker.io").unwrap(),
            Credential::Basic {
                username: "hub".into(),
                password: "secret".into()
            }
        );
        assert_eq!(
            src.credential_for("reg.example:5000").unwrap(),
            Credential::Basic {
                username: "u".into(),
                password: "p".into()
            }
        );
        assert_eq!(
            src.credential_for("other.example").unwrap(),
            Credential::IdentityToken("refresh".into())
        );
        assert_eq!(
            src.credential_for("unknown.example").unwrap(),
            Credential::Anonymous
        );
    }

    #[test]
    fn explicit_credentials_win() {
        let (mut src, _dir) = source_with(r#"{"auths":{"r.example":{"auth":"YTpi"}}}"#);
        src.explicit = Some(("x".into(), "y".into()));
        assert_eq!(
            src.credential_for("r.example").unwrap(),
            Credential::Basic {
                username: "x".into(),
                password: "y".into()
            }
        );
    }

    #[test]
    fn broken_config_is_a_clear_error() {
        let (src, _dir) = source_with(r#"{"auths":{"r.example":{"auth":"!!notbase64"}}}"#);
        let err = src.credential_for("r.example").unwrap_err();
        assert!(matches!(err, RegistryError::Credentials { .. }), "{err}");
        assert!(err.to_string().contains("not base64"), "{err}");
        let (src, _dir) = source_with("{not json");
        assert!(matches!(
            src.credential_for("r.example"),
            Err(RegistryError::Credentials { .. })
        ));
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let (src, _dir) = source_with(r#"{"credHelpers":{"r.example":"sigward-test-absent"}}"#);
        let err = src.credential_for("r.example").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-sigward-test-absent"),
            "{err}"
        );
    }

    #[test]
    fn credential_helper_protocol() {
        // A real executable speaking the credential-helper protocol.
        let dir = std::env::temp_dir().join(format!("sigward-helper-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let helper = dir.join("docker-credential-sigwardtest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\n[ \"$1\" = get ] || exit 3\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"helper-user\",\"Secret\":\"s3\"}' \"$server\"\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![dir.clone()];
        paths.extend(std::env::split_paths(&path));
        // Only this test resolves docker-credential-sigwardtest, so prefixing PATH is harmless.
        let joined = std::env::join_paths(paths).unwrap();
        let config = DockerConfig {
            creds_store: Some("sigwardtest".into()),
            ..Default::default()
        };
        let got = temp_env_path(&joined, || {
            config.credential_for("r.example", Path::new("x"))
        });
        assert_eq!(
            got.unwrap(),
            Credential::Basic {
                username: "helper-user".into(),
                password: "s3".into()
            }
        );
    }

    fn temp_env_path<T>(path: &std::ffi::OsStr, f: impl FnOnce() -> T) -> T {
        let old = std::env::var_os("PATH");
        // SAFETY-free: edition 2021 set_var is safe; tests in this module do not read PATH concurrently.
        std::env::set_var("PATH", path);
        let out = f();
        if let Some(old) = old {
            std::env::set_var("PATH", old);
        }
        out
    }
}
