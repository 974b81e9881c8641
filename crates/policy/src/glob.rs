//! policy-controller's image globs (`pkg/apis/glob/glob.go`, research doc §2.6) and the
//! selection of matching sigstore policies (§2.5: all matching policies apply).

use regex::Regex;
use sigward_oci::ImageReference;

use crate::error::PolicyError;
use crate::sigstore::SigstorePolicy;

/// Whether `glob` uses only the characters policy-controller accepts, `[a-zA-Z0-9-_:/*.@]`
/// (spelled out: the Go class relies on RE2 reading `9-_` as a range then a literal `-`).
pub fn glob_is_valid(glob: &str) -> bool {
    !glob.is_empty()
        && glob.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '/' | '*' | '.' | '@')
        })
}

/// `glob.Compile`: `*` alone means `index.docker.io/library/*`, `*/*` means
/// `index.docker.io/*/*`; then `.` is literal, `**` is `.*`, `*` is `[^/]*`, anchored.
pub fn compile_glob(glob: &str) -> Result<Regex, PolicyError> {
    let invalid = || PolicyError::InvalidGlob {
        glob: glob.to_owned(),
    };
    if !glob_is_valid(glob) {
        return Err(invalid());
    }
    let expanded = match glob {
        "*" => "index.docker.io/library/*",
        "*/*" => "index.docker.io/*/*",
        other => other,
    };
    let mut pattern = String::from("^");
    let mut chars = expanded.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                pattern.push_str(".*");
            }
            '*' => pattern.push_str("[^/]*"),
            // Every other allowed character is a regex literal except `.`.
            '.' => pattern.push_str(r"\."),
            c => pattern.push(c),
        }
    }
    pattern.push('$');
    Regex::new(&pattern).map_err(|_| invalid())
}

/// go-containerregistry's `ParseReference(…, WeakValidation).Name()` for `image`: Docker Hub
/// as `index.docker.io` (with `library/`), then `@digest` if there is one (a tag next to a
/// digest is dropped), else `:tag`, else `:latest`.
pub fn ggcr_name(image: &ImageReference) -> String {
    let domain = match image.domain() {
        "docker.io" | "" => "index.docker.io",
        d => d,
    };
    let mut name = format!("{domain}/{}", image.path());
    match (image.digest(), image.tag()) {
        (Some(d), _) => {
            name.push('@');
            name.push_str(&d.to_string());
        }
        (None, Some(t)) => {
            name.push(':');
            name.push_str(t);
        }
        (None, None) => name.push_str(":latest"),
    }
    name
}

/// `glob.Match(glob, image)`: the glob against the fully qualified name ([`ggcr_name`]) and,
/// if that fails and differs from `image`, against `image` as written (the deprecated
/// fallback, which lets `foo*` match `foo`).
pub fn glob_matches(glob: &str, image: &str) -> Result<bool, PolicyError> {
    let parsed = ImageReference::parse(image).map_err(|source| PolicyError::InvalidImage {
        image: image.to_owned(),
        source,
    })?;
    let re = compile_glob(glob)?;
    let qualified = ggcr_name(&parsed);
    Ok(re.is_match(&qualified) || (qualified != image && re.is_match(image)))
}

/// A set of validated sigstore policies with their compiled globs; the only way to select them.
#[derive(Debug, Clone, Default)]
pub struct SigstorePolicySet {
    policies: Vec<(SigstorePolicy, Vec<Regex>)>,
}

impl SigstorePolicySet {
    /// Validates every policy ([`SigstorePolicy::validate`]); all errors are returned.
    pub fn new(policies: Vec<SigstorePolicy>) -> Result<Self, Vec<PolicyError>> {
        let errors: Vec<PolicyError> = policies.iter().flat_map(|p| p.validate()).collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut compiled = Vec::with_capacity(policies.len());
        for p in policies {
            let globs = p
                .spec
                .images
                .iter()
                .map(|i| compile_glob(&i.glob))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| vec![e])?;
            compiled.push((p, globs));
        }
        Ok(Self { policies: compiled })
    }

    /// The policies, in input order.
    pub fn policies(&self) -> impl Iterator<Item = &SigstorePolicy> {
        self.policies.iter().map(|(p, _)| p)
    }

    /// Every policy with a glob matching `image`'s fully qualified name ([`ggcr_name`]), in
    /// input order. All of them must be satisfied (AND); within one, any authority suffices
    /// (OR). Empty means no policy matched (policy-controller's `no-match-policy`, default
    /// deny, is the caller's decision). `spec.match` is not evaluated here, so a policy
    /// restricted to some resources is returned for all (stricter, never laxer). The
    /// raw-string fallback of [`glob_matches`] is not applied: the webhook passes the
    /// already-qualified `ref.Name()`, so it never fires there.
    pub fn matching_sigstore_policies(&self, image: &ImageReference) -> Vec<&SigstorePolicy> {
        let qualified = ggcr_name(image);
        self.policies
            .iter()
            .filter(|(_, globs)| globs.iter().any(|re| re.is_match(&qualified)))
            .map(|(p, _)| p)
            .collect()
    }
}
