//! Which requirements apply to an image in a namespace: the effective scopes of the cluster's
//! `ClusterImagePolicy`s plus the namespace's non-conflicting `ImagePolicy` scopes (MCO
//! `getValidScopePolicies`), then containers/image's most-specific lookup
//! (`docker/policyconfiguration/naming.go`).

use sigward_oci::ImageReference;

use crate::error::PolicyError;
use crate::model::{Policy, PolicyKind, PolicyRef};

/// A set of validated policies; the only way to select requirements.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

/// An `ImagePolicy` scope dropped because it equals or nests in a `ClusterImagePolicy` scope
/// (OpenShift marks the ImagePolicy `Pending`, reason `ConflictScopes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeConflict<'a> {
    /// The ImagePolicy whose scope was dropped.
    pub image_policy: &'a PolicyRef,
    /// The dropped scope.
    pub scope: &'a str,
    /// The first ClusterImagePolicy scope it equals or nests in.
    pub cluster_scope: &'a str,
    /// The ClusterImagePolicy owning that scope.
    pub cluster_policy: &'a PolicyRef,
}

/// Outcome of [`PolicySet::select`].
#[derive(Debug, Clone, PartialEq)]
pub enum Selection<'a> {
    /// The most specific scope matching the image, and every policy listing it (all must be
    /// satisfied: AND).
    Match {
        /// The scope that won.
        scope: &'a str,
        /// Policies whose requirements apply, cluster policies first, in input order.
        requirements: Vec<&'a Policy>,
        /// The namespace's dropped ImagePolicy scopes.
        conflicts: Vec<ScopeConflict<'a>>,
    },
    /// No scope matches: no signature policy applies to this image.
    NoMatch {
        /// The namespace's dropped ImagePolicy scopes.
        conflicts: Vec<ScopeConflict<'a>>,
    },
}

/// runtime-utils `ScopeIsNestedInsideScope(sub, super)`, quirks included.
pub fn scope_is_nested_inside(sub: &str, sup: &str) -> bool {
    if sub == sup {
        return true;
    }
    if let Some(rest) = sub.strip_prefix(sup) {
        if rest.starts_with('/') {
            return true;
        }
    }
    if let Some(domain) = sup.strip_prefix('*') {
        // `domain` is `.example.com`.
        if let Some((before_colon, _)) = sub.split_once(':') {
            return !before_colon.contains('/') && before_colon.ends_with(domain);
        }
        let before_slash = sub.split('/').next().unwrap_or(sub);
        return before_slash.ends_with(domain);
    }
    false
}

/// containers/image `DockerReferenceIdentity` followed by `DockerReferenceNamespaces`: the
/// scopes that could match `image`, most specific first.
pub fn candidate_scopes(image: &ImageReference) -> Result<Vec<String>, PolicyError> {
    let name = image.name();
    let identity = match (image.tag(), image.digest()) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::TagAndDigest {
                image: image.to_string(),
            })
        }
        (Some(tag), None) => format!("{name}:{tag}"),
        (None, Some(digest)) => format!("{name}@{digest}"),
        (None, None) => {
            return Err(PolicyError::NameOnlyImage {
                image: image.to_string(),
            })
        }
    };
    let mut out = vec![identity];
    let mut current = name.as_str();
    loop {
        out.push(current.to_owned());
        match current.rfind('/') {
            Some(i) => current = &current[..i],
            None => break,
        }
    }
    let mut host = current.split(':').next().unwrap_or(current);
    while let Some(i) = host.find('.') {
        host = &host[i + 1..];
        out.push(format!("*.{host}"));
    }
    Ok(out)
}

impl PolicySet {
    /// Validates every policy; all violations of all policies are returned together.
    pub fn new(policies: Vec<Policy>) -> Result<Self, Vec<PolicyError>> {
        let errors: Vec<PolicyError> = policies.iter().flat_map(Policy::validate).collect();
        if errors.is_empty() {
            Ok(Self { policies })
        } else {
            Err(errors)
        }
    }

    /// The policies, in input order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    fn cluster_policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies
            .iter()
            .filter(|p| p.id.kind == PolicyKind::ClusterImagePolicy)
    }

    fn namespace_policies<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a Policy> {
        self.policies.iter().filter(move |p| {
            p.id.kind == PolicyKind::ImagePolicy && p.id.namespace.as_deref() == Some(namespace)
        })
    }

    /// The `ImagePolicy` scopes of `namespace` that cluster policies override.
    pub fn conflicts<'a>(&'a self, namespace: &'a str) -> Vec<ScopeConflict<'a>> {
        let mut out = Vec::new();
        for ip in self
            .namespace_policies(namespace)
            .filter(|p| !p.is_additional())
        {
            for scope in &ip.spec.scopes {
                if let Some((cip, cluster_scope)) = self.covering_cluster_scope(scope) {
                    out.push(ScopeConflict {
                        image_policy: &ip.id,
                        scope,
                        cluster_scope,
                        cluster_policy: &cip.id,
                    });
                }
            }
        }
        out
    }

    fn covering_cluster_scope(&self, scope: &str) -> Option<(&Policy, &str)> {
        self.cluster_policies().find_map(|cip| {
            cip.spec
                .scopes
                .iter()
                .find(|s| scope_is_nested_inside(scope, s))
                .map(|s| (cip, s.as_str()))
        })
    }

    /// The requirements for `image` pulled in `namespace`: the most specific matching scope
    /// among cluster scopes and the namespace's non-conflicting scopes. An image without tag
    /// or digest is looked up as `:latest` (what the docker transport pulls); one with both is
    /// an error, as in containers/image.
    pub fn select<'a>(
        &'a self,
        namespace: &'a str,
        image: &ImageReference,
    ) -> Result<Selection<'a>, PolicyError> {
        let image =
            match (image.tag(), image.digest()) {
                (None, None) => image.with_tag("latest").map_err(|source| {
                    PolicyError::InvalidPolicyReference {
                        value: image.to_string(),
                        source,
                    }
                })?,
                _ => image.clone(),
            };
        let candidates = candidate_scopes(&image)?;
        let conflicts = self.conflicts(namespace);
        for candidate in &candidates {
            let mut requirements = Vec::new();
            let mut scope = None;
            for cip in self.cluster_policies() {
                if let Some(s) = cip.spec.scopes.iter().find(|s| *s == candidate) {
                    scope.get_or_insert(s.as_str());
                    requirements.push(cip);
                }
            }
            // Equal to a cluster scope means conflicting, so only one side can supply it.
            if scope.is_none() {
                for ip in self
                    .namespace_policies(namespace)
                    .filter(|p| !p.is_additional())
                {
                    if let Some(s) = ip.spec.scopes.iter().find(|s| *s == candidate) {
                        if self.covering_cluster_scope(s).is_none() {
                            scope.get_or_insert(s.as_str());
                            requirements.push(ip);
                        }
                    }
                }
            }
            if let Some(scope) = scope {
                requirements.extend(self.additional_policies(namespace, &candidates));
                return Ok(Selection::Match {
                    scope,
                    requirements,
                    conflicts,
                });
            }
        }
        let additional = self.additional_policies(namespace, &candidates);
        if let Some(first) = additional.first() {
            let scope = first
                .spec
                .scopes
                .iter()
                .find(|s| candidates.contains(s))
                .map_or("", String::as_str);
            return Ok(Selection::Match {
                scope,
                requirements: additional,
                conflicts,
            });
        }
        Ok(Selection::NoMatch { conflicts })
    }

    /// The namespace's `sigward.dev/additional` ImagePolicies with a scope matching the image:
    /// required on top of whatever else was selected.
    fn additional_policies<'a>(
        &'a self,
        namespace: &'a str,
        candidates: &[String],
    ) -> Vec<&'a Policy> {
        self.namespace_policies(namespace)
            .filter(|p| p.is_additional())
            .filter(|p| p.spec.scopes.iter().any(|s| candidates.contains(s)))
            .collect()
    }
}
