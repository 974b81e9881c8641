//! Every image an object would make a node run: the pod spec of a Pod, or the pod template of
//! any workload kind, and in it `containers`, `initContainers`, `ephemeralContainers` and image
//! volumes (`volumes[].image.reference`). Status fields are never read.

use serde_json::Value;

/// Where an image is written in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSite {
    /// JSON pointer to the image string (for the pinning patch).
    pub pointer: String,
    /// Human path, e.g. `spec.template.spec.containers[0]`.
    pub path: String,
    /// Container or volume name.
    pub name: String,
    /// The image as written.
    pub image: String,
}

/// Where a kind keeps its pod spec, as JSON pointer segments.
fn pod_spec_path(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Pod") => Some(&["spec"]),
        ("", "PodTemplate") => Some(&["template", "spec"]),
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job")
        | ("apps.openshift.io", "DeploymentConfig") => Some(&["spec", "template", "spec"]),
        _ => None,
    }
}

/// Paths tried for kinds sigward does not know (operators' workload CRDs such as Argo
/// Rollouts follow these conventions).
const FALLBACK_PATHS: [&[&str]; 3] = [
    &["spec", "template", "spec"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
    &["spec"],
];

fn at<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(object, |v, key| v.get(*key))
}

/// The images of `object` of kind `group`/`kind`. Unknown kinds are searched at the usual
/// template paths; a kind with no pod spec has no images.
pub fn images(group: &str, kind: &str, object: &Value) -> Vec<ImageSite> {
    match locate_pod_spec(group, kind, object) {
        Some((path, spec)) => pod_spec_images(path, spec),
        None => Vec::new(),
    }
}

/// The pod spec of `object` (for its `imagePullSecrets` and `serviceAccountName`).
pub fn pod_spec<'a>(group: &str, kind: &str, object: &'a Value) -> Option<&'a Value> {
    locate_pod_spec(group, kind, object).map(|(_, spec)| spec)
}

fn locate_pod_spec<'a>(
    group: &str,
    kind: &str,
    object: &'a Value,
) -> Option<(&'static [&'static str], &'a Value)> {
    if let Some(path) = pod_spec_path(group, kind) {
        return at(object, path)
            .filter(|s| s.is_object())
            .map(|s| (path, s));
    }
    FALLBACK_PATHS.into_iter().find_map(|path| {
        let spec = at(object, path).filter(|s| s.is_object())?;
        (!pod_spec_images(path, spec).is_empty()).then_some((path, spec))
    })
}

fn pod_spec_images(path: &[&str], spec: &Value) -> Vec<ImageSite> {
    let base_pointer: String = path.iter().map(|p| format!("/{p}")).collect();
    let base_path = path.join(".");
    let mut out = Vec::new();
    for field in ["initContainers", "containers", "ephemeralContainers"] {
        let Some(list) = spec.get(field).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in list.iter().enumerate() {
            let Some(image) = c
                .get("image")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            out.push(ImageSite {
                pointer: format!("{base_pointer}/{field}/{i}/image"),
                path: format!("{base_path}.{field}[{i}]"),
                name: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                image: image.to_owned(),
            });
        }
    }
    if let Some(volumes) = spec.get("volumes").and_then(Value::as_array) {
        for (i, v) in volumes.iter().enumerate() {
            let Some(image) = v
                .get("image")
                .and_then(|i| i.get("reference"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            out.push(ImageSite {
                pointer: format!("{base_pointer}/volumes/{i}/image/reference"),
                path: format!("{base_path}.volumes[{i}].image"),
                name: v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                image: image.to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_image_field_of_a_pod() {
        let pod = json!({"spec": {
            "initContainers": [{"name": "i", "image": "busybox"}],
            "containers": [{"name": "a", "image": "nginx"}, {"name": "b"}],
            "ephemeralContainers": [{"name": "debug", "image": "alpine"}],
            "volumes": [{"name": "v", "image": {"reference": "quay.io/x/data:1"}},
                        {"name": "e", "emptyDir": {}}]
        }, "status": {"containerStatuses": [{"image": "docker.io/library/nginx:latest"}]}});
        let found: Vec<(String, String)> = images("", "Pod", &pod)
            .into_iter()
            .map(|s| (s.pointer, s.image))
            .collect();
        assert_eq!(
            found,
            vec![
                ("/spec/initContainers/0/image".into(), "busybox".into()),
                ("/spec/containers/0/image".into(), "nginx".into()),
                ("/spec/ephemeralContainers/0/image".into(), "alpine".into()),
                (
                    "/spec/volumes/0/image/reference".into(),
                    "quay.io/x/data:1".into()
                ),
            ]
        );
    }

    #[test]
    fn templates_of_workload_kinds() {
        let template = json!({"spec": {"containers": [{"name": "c", "image": "x"}]}});
        let deployment = json!({"spec": {"template": template}});
        let cronjob = json!({"spec": {"jobTemplate": {"spec": {"template": template}}}});
        for (group, kind, object, pointer) in [
            (
                "apps",
                "Deployment",
                &deployment,
                "/spec/template/spec/containers/0/image",
            ),
            (
                "apps.openshift.io",
                "DeploymentConfig",
                &deployment,
                "/spec/template/spec/containers/0/image",
            ),
            (
                "batch",
                "CronJob",
                &cronjob,
                "/spec/jobTemplate/spec/template/spec/containers/0/image",
            ),
            (
                "argoproj.io",
                "Rollout",
                &deployment,
                "/spec/template/spec/containers/0/image",
            ),
        ] {
            let found = images(group, kind, object);
            assert_eq!(found.len(), 1, "{kind}");
            assert_eq!(found[0].pointer, pointer, "{kind}");
        }
        assert!(images("", "ConfigMap", &json!({"data": {"image": "x"}})).is_empty());
    }
}
