//! `signedIdentity` evaluation, as containers/image's `signature/policy_reference_match.go`:
//! does the `docker-reference` a signature claims fit the image being admitted?

use sigward_oci::ImageReference;

use crate::error::PolicyError;
use crate::model::{IdentityMatchPolicy, SignedIdentity};

fn parse_signed(signed: &str) -> Result<ImageReference, PolicyError> {
    ImageReference::parse(signed).map_err(|source| PolicyError::InvalidSignedReference {
        signed_reference: signed.to_owned(),
        source,
    })
}

fn is_name_only(r: &ImageReference) -> bool {
    r.tag().is_none() && r.digest().is_none()
}

/// `matchRepoDigestOrExactReferenceValues`: a tagged image (even tag+digest) needs the exact
/// reference; a digest-only image needs the same repository; a name-only signature never
/// matches.
fn repo_digest_or_exact(
    match_policy: IdentityMatchPolicy,
    intended: &ImageReference,
    signature: &ImageReference,
    signed: &str,
) -> Result<(), PolicyError> {
    let mismatch = |expected: String| PolicyError::IdentityMismatch {
        match_policy,
        expected,
        signed_reference: signed.to_owned(),
        name_only_signature: is_name_only(signature),
    };
    if is_name_only(signature) {
        return Err(mismatch(intended.to_string()));
    }
    if intended.tag().is_some() {
        if signature.to_string() == intended.to_string() {
            return Ok(());
        }
        return Err(mismatch(intended.to_string()));
    }
    if intended.digest().is_some() {
        if signature.name() == intended.name() {
            return Ok(());
        }
        return Err(mismatch(intended.name()));
    }
    Err(PolicyError::NameOnlyImage {
        image: intended.to_string(),
    })
}

/// `prmRemapIdentity.refMatchesPrefix`: the full name equals `prefix` or continues it at `/`.
fn name_matches_prefix(name: &str, prefix: &str) -> bool {
    match name.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Whether a signature claiming `signed_docker_reference` is accepted for `image` (a
/// normalised reference as the node would pull it) under `policy`. The manifest digest is
/// checked elsewhere; this is only the identity claim.
pub fn identity_matches(
    policy: &SignedIdentity,
    image: &ImageReference,
    signed_docker_reference: &str,
) -> Result<(), PolicyError> {
    let signed = signed_docker_reference;
    match policy {
        SignedIdentity::MatchRepoDigestOrExact => repo_digest_or_exact(
            IdentityMatchPolicy::MatchRepoDigestOrExact,
            image,
            &parse_signed(signed)?,
            signed,
        ),
        SignedIdentity::MatchRepository => {
            let signature = parse_signed(signed)?;
            if signature.name() == image.name() {
                Ok(())
            } else {
                Err(PolicyError::IdentityMismatch {
                    match_policy: IdentityMatchPolicy::MatchRepository,
                    expected: image.name(),
                    signed_reference: signed.to_owned(),
                    name_only_signature: is_name_only(&signature),
                })
            }
        }
        SignedIdentity::ExactRepository { repository } => {
            let intended = ImageReference::parse(repository).map_err(|source| {
                PolicyError::InvalidPolicyReference {
                    value: repository.clone(),
                    source,
                }
            })?;
            let signature = parse_signed(signed)?;
            if signature.name() == intended.name() {
                Ok(())
            } else {
                Err(PolicyError::IdentityMismatch {
                    match_policy: IdentityMatchPolicy::ExactRepository,
                    expected: intended.name(),
                    signed_reference: signed.to_owned(),
                    name_only_signature: is_name_only(&signature),
                })
            }
        }
        SignedIdentity::RemapIdentity {
            prefix,
            signed_prefix,
        } => {
            let signature = parse_signed(signed)?;
            let intended = if name_matches_prefix(&image.name(), prefix) {
                let rewritten = image
                    .to_string()
                    .replacen(prefix.as_str(), signed_prefix, 1);
                ImageReference::parse_named(&rewritten).map_err(|source| {
                    PolicyError::InvalidPolicyReference {
                        value: rewritten.clone(),
                        source,
                    }
                })?
            } else {
                image.clone()
            };
            repo_digest_or_exact(
                IdentityMatchPolicy::RemapIdentity,
                &intended,
                &signature,
                signed,
            )
        }
    }
}
