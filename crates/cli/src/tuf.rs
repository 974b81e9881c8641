//! Refreshing the trusted root through TUF (`sigward trusted-root update`) and using the
//! refreshed copy offline (`--tuf-url`): every metadata signature, version and expiry is checked
//! by sigstore-tuf, online when updating and again, from the on-disk cache, at each use, so a
//! tampered cache is refused rather than trusted.

use std::path::PathBuf;

use sigstore_verify::trust_root::{TrustedRoot, TufBootstrap, TufConfig};
use sigward_verify::bundle::TrustMaterial;

/// The Sigstore public-good TUF repository.
pub const PRODUCTION_TUF_URL: &str = "https://tuf-repo-cdn.sigstore.dev";

/// Where refreshed metadata is cached: `$SIGWARD_TUF_CACHE`, else `~/.cache/sigward/tuf`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SIGWARD_TUF_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("sigward").join("tuf")
}

/// Which TUF repository, trusted how, cached where.
#[derive(Debug, Clone, clap::Args)]
pub struct TufArgs {
    /// The TUF repository serving trusted_root.json (default: Sigstore's public-good one).
    #[arg(long)]
    pub tuf_url: Option<String>,
    /// The repository's initial root.json (required for a repository other than the public-good one).
    #[arg(long, requires = "tuf_url")]
    pub tuf_root: Option<PathBuf>,
    /// Cache directory (default: $SIGWARD_TUF_CACHE or ~/.cache/sigward/tuf).
    #[arg(long)]
    pub tuf_cache: Option<PathBuf>,
}

impl TufArgs {
    fn config(&self) -> Result<(TufConfig, String), String> {
        let url = self
            .tuf_url
            .clone()
            .unwrap_or_else(|| PRODUCTION_TUF_URL.to_string());
        let config = match (&self.tuf_root, url.as_str()) {
            (Some(path), _) => {
                let root = std::fs::read(path)
                    .map_err(|e| format!("--tuf-root {}: {e}", path.display()))?;
                TufConfig::custom(url.clone(), TufBootstrap::trusted(root))
            }
            (None, PRODUCTION_TUF_URL) => TufConfig::production(),
            (None, other) => {
                return Err(format!(
                    "--tuf-url {other} needs --tuf-root (its initial root.json)"
                ))
            }
        };
        let cache = self.tuf_cache.clone().unwrap_or_else(default_cache_dir);
        Ok((config.with_cache_dir(cache), url))
    }

    /// The trusted root from the verified cache, without network.
    pub fn load_offline(&self) -> Result<TrustMaterial, String> {
        let (config, url) = self.config()?;
        let root = run_blocking(TrustedRoot::from_tuf(config.offline()))?.map_err(|e| {
            format!("trusted root from the TUF cache of {url}: {e} (run `sigward trusted-root update` first)")
        })?;
        TrustMaterial::from_trusted_root(&root).map_err(|e| e.to_string())
    }
}

/// `sigward trusted-root update`.
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    tuf: TufArgs,
}

/// Fetches and verifies the current trusted root, leaving it in the cache for offline use.
pub fn update(args: &UpdateArgs) -> Result<(), String> {
    let (config, url) = args.tuf.config()?;
    let root = run_blocking(TrustedRoot::from_tuf(config))?
        .map_err(|e| format!("TUF update from {url}: {e}"))?;
    let cache = args.tuf.tuf_cache.clone().unwrap_or_else(default_cache_dir);
    eprintln!(
        "Trusted root refreshed from {url} and cached in {}: {} transparency log(s), {} certificate authorit(ies), {} timestamp authorit(ies)",
        cache.display(),
        root.tlogs.len(),
        root.certificate_authorities.len(),
        root.timestamp_authorities.len()
    );
    TrustMaterial::from_trusted_root(&root).map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs a future to completion on a thread of its own, so callers inside or outside an async
/// runtime can read the cache synchronously.
fn run_blocking<T: Send + 'static>(
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(future))
            .map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the TUF cache reader panicked".to_string())?
}
