#!/usr/bin/env python3
"""Offline checks of sigward's deployment manifests (deploy/). Run by scripts/check-deploy.sh in its venv.

1. Every YAML document under deploy/ (recursively) that is a Kubernetes object:
   - built-in kinds (core, apps, batch, policy, autoscaling, *.k8s.io): validated against the
     Kubernetes JSON schemas bundled by the kubernetes-validate package, in strict mode (unknown
     fields are errors), for each Kubernetes version asked for;
   - custom kinds: against the CRD's openAPIV3Schema when deploy/ holds that CRD (deploy/crds/),
     made strict the same way; otherwise skipped, named, with a structural check only.
   Policy files embedded in ConfigMap sigward-policies (and the commented example there) get the
   same treatment.
2. Every kustomization: resources, components and patch files exist; rendered here in Python
   (resources, components, JSON 6902 patches, strategic-merge patches of maps and `$patch: delete`);
   every patch must match a resource; each build (and each build plus each Component, except for a
   Kustomization of CRDs only) is validated like the files, then checked for consistency
   (webhook -> Service -> Pods, mounted Secrets and ConfigMaps, CA injection, namespaces). With
   kubectl or kustomize on PATH the same builds are also rendered by it and must equal the Python
   rendering.
Errors are printed as `path:document: message`; exit status 1 if there is any.
"""

import argparse
import base64
import copy
import functools
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

import jsonschema
import referencing
import yaml
from kubernetes_validate import utils as kv
from kubernetes_validate.version import __version__ as KV_VERSION

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_API = "kustomize.config.k8s.io/"
# Keys of a Kustomization/Component that the Python renderer understands.
KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources", "components", "patches"}
# Built-in kinds that are cluster-scoped; every other built-in kind is namespaced.
CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
    "StorageClass", "CSIDriver", "CSINode", "IngressClass", "RuntimeClass", "APIService",
    "CustomResourceDefinition", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding", "FlowSchema", "PriorityLevelConfiguration",
    "CertificateSigningRequest", "VolumeAttachment",
}
# Custom kinds known to be cluster-scoped (used until deploy/crds says otherwise).
CLUSTER_SCOPED_CUSTOM = {("cert-manager.io", "ClusterIssuer"), ("config.openshift.io", "ClusterImagePolicy"),
                         ("policy.sigstore.dev", "ClusterImagePolicy")}
POLICY_KINDS = {("config.openshift.io", "ClusterImagePolicy"), ("config.openshift.io", "ImagePolicy"),
                ("policy.sigstore.dev", "ClusterImagePolicy")}
POLICY_CONFIGMAP = "sigward-policies"
EXAMPLE_MARKER = "# ---8<---"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class Report:
    def __init__(self):
        self.quiet = False           # while checking builds: count and print errors only
        self.errors = []
        self.valid = 0
        self.skipped = Counter()     # reason -> count
        self.notes = []

    def error(self, where, msg):
        self.errors.append(f"{where}: {msg}")
        print(f"ERROR {where}: {msg}")

    def skip(self, where, reason):
        if not self.quiet:
            self.skipped[reason] += 1
            print(f"SKIP  {where}: {reason}")

    def ok(self, where, what):
        if not self.quiet:
            self.valid += 1
            print(f"ok    {where}: {what}")


def group_of(api_version):
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def is_builtin_group(group):
    return group == "" or "." not in group or group.endswith(".k8s.io")


def describe(doc):
    if not isinstance(doc, dict):
        return type(doc).__name__
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name = meta.get("name", "?")
    ns = meta.get("namespace")
    return f"{doc.get('kind', '?')} {ns + '/' if ns else ''}{name}"


def fmt_path(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def structural_problems(doc):
    """apiVersion, kind and metadata.name present and strings."""
    if not isinstance(doc, dict):
        return [f"a Kubernetes object must be a mapping, not {type(doc).__name__}"]
    probs = []
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            probs.append(f"{key} missing or not a string")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
        probs.append("metadata.name missing or not a string")
    return probs


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text, [d for d in yaml.safe_load_all(text) if d is not None]


# ---------------------------------------------------------------------------------------------
# Schemas

class Schemas:
    def __init__(self, versions, crd_docs):
        self.versions = versions
        self.crds = {}   # (group, version, kind) -> (jsonschema validator, cluster_scoped)
        for where, crd in crd_docs:
            self._add_crd(where, crd)

    # built-in kinds -------------------------------------------------------------------------
    @staticmethod
    @functools.lru_cache(maxsize=None)
    def _k8s_validator(k8s_version, group, version, kind):
        """Strict validator for one built-in kind in one Kubernetes version, or None."""
        real = [v for v in kv.all_versions() if kv.major_minor(v) == kv.major_minor(k8s_version)]
        if not real:
            raise SystemExit(f"kubernetes-validate {KV_VERSION} bundles no schemas for Kubernetes {k8s_version} "
                             f"(it has {', '.join(kv.major_minor(v) for v in kv.all_versions())})")
        base = f"kubernetes-json-schema/v{real[-1]}-local-strict"
        short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", f"{group}/{version}" if group else version)
        try:
            schema = kv.schema_contents(f"{base}/{kind.lower()}-{short}.json", k8s_version)
        except FileNotFoundError:
            return None
        # kubernetes-validate drops the group's domain from file names: make sure the schema is
        # for exactly this group/version/kind (policy.sigstore.dev must not match policy/...).
        gvks = schema.get("x-kubernetes-group-version-kind", [])
        if not any(g.get("group", "") == group and g.get("version") == version and g.get("kind") == kind
                   for g in gvks):
            return None
        defs = Schemas._k8s_defs(base, k8s_version)
        # As kubernetes_validate.validate() does, with the files cached.
        registry = referencing.Resource.from_contents(schema) @ referencing.Registry()
        registry = defs @ registry
        return jsonschema.Draft202012Validator(schema, registry=registry)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def _k8s_defs(base, k8s_version):
        return referencing.Resource.from_contents(kv.schema_contents(f"{base}/_definitions.json", k8s_version))

    # custom kinds ---------------------------------------------------------------------------
    def _add_crd(self, where, crd):
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        cluster = spec.get("scope") == "Cluster"
        for v in spec.get("versions") or []:
            schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
            if group and kind and isinstance(schema, dict):
                strict = strict_openapi(copy.deepcopy(schema))
                # apiVersion/kind/metadata are implicit in a CRD's schema.
                strict.setdefault("properties", {}).update({
                    "apiVersion": {"type": "string", "enum": [f"{group}/{v.get('name')}"]},
                    "kind": {"type": "string", "enum": [kind]},
                    "metadata": {"type": "object"},
                })
                self.crds[(group, v.get("name"), kind)] = (jsonschema.Draft7Validator(strict), cluster, where)

    def cluster_scoped(self, doc):
        group, kind = group_of(doc["apiVersion"]), doc["kind"]
        if is_builtin_group(group):
            return kind in CLUSTER_SCOPED
        version = doc["apiVersion"].split("/", 1)[-1]
        if (group, version, kind) in self.crds:
            return self.crds[(group, version, kind)][1]
        return (group, kind) in CLUSTER_SCOPED_CUSTOM

    def check(self, doc, where, report, what=None):
        """Validate one object; report ok / skip / errors. True unless it had errors."""
        what = what or describe(doc)
        probs = structural_problems(doc)
        if probs:
            for p in probs:
                report.error(where, f"{what}: {p}")
            return False
        api_version, kind = doc["apiVersion"], doc["kind"]
        group = group_of(api_version)
        version = api_version.split("/", 1)[-1]
        if api_version.startswith(KUSTOMIZE_API):
            report.error(where, f"{what}: a {kind} here is not listed as a kustomization file")
            return False
        if is_builtin_group(group):
            errors = {}   # message -> [k8s versions]
            for kver in self.versions:
                validator = self._k8s_validator(kver, group, version, kind)
                if validator is None:
                    errors.setdefault(f"no schema for built-in {api_version} {kind} (misspelt or removed API?)",
                                      []).append(kver)
                    continue
                for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
                    errors.setdefault(f"{fmt_path(e.absolute_path)}: {e.message}", []).append(kver)
            for msg, kvers in errors.items():
                report.error(where, f"{what}: {msg} [Kubernetes {', '.join(kvers)}]")
            if not errors:
                report.ok(where, f"{what} (Kubernetes {', '.join(self.versions)} strict)")
            return not errors
        crd = self.crds.get((group, version, kind))
        if crd is not None:
            validator, _, crd_where = crd
            errs = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
            for e in errs:
                report.error(where, f"{what}: {fmt_path(e.absolute_path)}: {e.message} [CRD {crd_where}]")
            if not errs:
                report.ok(where, f"{what} (CRD schema from {crd_where}, strict)")
            return not errs
        report.skip(where, f"{group} {kind}: no schema here, structure checked")
        return True


def strict_openapi(node):
    """A CRD's OpenAPI v3 schema as JSON Schema, with unknown fields rejected (as --strict does)."""
    if isinstance(node, list):
        return [strict_openapi(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k.startswith("x-kubernetes-") or k in ("nullable", "format", "example", "externalDocs"):
            continue
        if k in ("properties", "patternProperties", "definitions"):
            out[k] = {name: strict_openapi(sub) for name, sub in v.items()}
        else:
            out[k] = strict_openapi(v)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = out.get("anyOf", []) + [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"] + ["null"]
    if ("properties" in out and "additionalProperties" not in out
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


# ---------------------------------------------------------------------------------------------
# Policies inside ConfigMap sigward-policies

def check_policy_configmap(cm, where, schemas, report):
    for key, text in sorted((cm.get("data") or {}).items()):
        if not key.endswith((".yaml", ".yml", ".json")):
            report.error(where, f"ConfigMap {POLICY_CONFIGMAP} key {key}: sigward reads only .yaml/.yml/.json files")
            continue
        sub = f"{where}[data.{key}]"
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            report.error(sub, f"not YAML: {e}")
            continue
        label = "policy"
        if not docs and EXAMPLE_MARKER in text:
            # An all-comment example: check what the user gets by uncommenting below the marker.
            body = text.split(EXAMPLE_MARKER, 1)[1]
            lines = [re.sub(r"^(\s*)# ?", r"\1", ln) for ln in body.splitlines()]
            try:
                docs = [d for d in yaml.safe_load_all("\n".join(lines)) if d is not None]
            except yaml.YAMLError as e:
                report.error(sub, f"the commented example below {EXAMPLE_MARKER!r} is not YAML once uncommented: {e}")
                continue
            if not docs:
                report.error(sub, f"nothing below {EXAMPLE_MARKER!r}")
            label = "commented example policy"
        for i, doc in enumerate(docs, 1):
            dwhere = f"{sub}:{i}"
            probs = structural_problems(doc)
            if probs:
                for p in probs:
                    report.error(dwhere, f"{label}: {p}")
                continue
            gk = (group_of(doc["apiVersion"]), doc["kind"])
            if gk not in POLICY_KINDS:
                report.error(dwhere, f"{label}: {doc['apiVersion']} {doc['kind']} is not a policy kind sigward reads")
                continue
            if gk[0] == "config.openshift.io":
                check_openshift_policy(doc, dwhere, label, report)
            schemas.check(doc, dwhere, report, what=f"{label} {describe(doc)}")


def check_openshift_policy(doc, where, label, report):
    spec = doc.get("spec") or {}
    if doc["apiVersion"] != "config.openshift.io/v1":
        report.error(where, f"{label}: sigward serves config.openshift.io/v1 only")
    if not isinstance(spec.get("scopes"), list) or not spec["scopes"]:
        report.error(where, f"{label}: spec.scopes must be a non-empty list")
    root = ((spec.get("policy") or {}).get("rootOfTrust") or {})
    ptype = root.get("policyType")
    member = {"PublicKey": "publicKey", "FulcioCAWithRekor": "fulcioCAWithRekor", "PKI": "pki"}.get(ptype)
    if member is None:
        report.error(where, f"{label}: spec.policy.rootOfTrust.policyType {ptype!r} is not PublicKey, "
                            "FulcioCAWithRekor or PKI")
        return
    if not isinstance(root.get(member), dict):
        report.error(where, f"{label}: policyType {ptype} needs spec.policy.rootOfTrust.{member}")
        return
    for field in ("keyData", "rekorKeyData", "fulcioCAData", "caRootsData", "caIntermediatesData"):
        value = root[member].get(field)
        if value is None:
            continue
        try:
            pem = base64.b64decode(value, validate=True).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            report.error(where, f"{label}: rootOfTrust.{member}.{field} is not base64 of a PEM file")
            continue
        if not re.search(r"-----BEGIN [A-Z ]+-----", pem):
            report.error(where, f"{label}: rootOfTrust.{member}.{field} decodes to no PEM block")


# ---------------------------------------------------------------------------------------------
# Kustomize

class KustomizeError(Exception):
    pass


def kustomization_file(d):
    for n in KUSTOMIZATION_NAMES:
        if os.path.isfile(os.path.join(d, n)):
            return os.path.join(d, n)
    return None


def load_kustomization(d, rel):
    path = kustomization_file(d)
    if path is None:
        raise KustomizeError(f"{rel(d)}: no kustomization.yaml")
    _, docs = load_yaml_docs(path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise KustomizeError(f"{rel(path)}:1: a kustomization is exactly one mapping")
    k = docs[0]
    if not str(k.get("apiVersion", "")).startswith(KUSTOMIZE_API) or k.get("kind") not in ("Kustomization", "Component"):
        raise KustomizeError(f"{rel(path)}:1: apiVersion {KUSTOMIZE_API}* and kind Kustomization or Component expected")
    unknown = set(k) - KUSTOMIZE_KEYS
    if unknown:
        raise KustomizeError(f"{rel(path)}:1: {', '.join(sorted(unknown))}: not understood by check-deploy.py's "
                             f"renderer (it knows {', '.join(sorted(KUSTOMIZE_KEYS))}); extend it or use patches")
    return path, k


def gvk_matches(doc, target):
    group, version = (doc["apiVersion"].split("/", 1) if "/" in doc["apiVersion"] else ("", doc["apiVersion"]))
    meta = doc.get("metadata") or {}
    have = {"group": group, "version": version, "kind": doc["kind"], "name": meta.get("name", ""),
            "namespace": meta.get("namespace", "")}
    for field, want in target.items():
        if field in ("labelSelector", "annotationSelector"):
            raise KustomizeError(f"patch target {field} is not supported by check-deploy.py's renderer")
        if field not in have:
            raise KustomizeError(f"patch target field {field!r} unknown")
        if not re.fullmatch(str(want), have[field]):
            return False
    return True


def json_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts, path):
    cur = doc
    for p in parts:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise KustomizeError(f"path {path!r} does not exist")
    return cur


def apply_json6902(doc, ops, src):
    for i, op in enumerate(ops):
        try:
            if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace", "move", "copy", "test"):
                raise KustomizeError("each operation needs op: add|remove|replace|move|copy|test")
            kind, path = op["op"], op.get("path")
            if not isinstance(path, str):
                raise KustomizeError("path missing")
            parts = json_pointer(path)
            if kind in ("add", "replace", "test") and "value" not in op:
                raise KustomizeError(f"{kind} needs a value")
            if kind == "test":
                if _walk(doc, parts, path) != op["value"]:
                    raise KustomizeError(f"test failed: {path} is {_walk(doc, parts, path)!r}, not {op['value']!r}")
                continue
            if kind in ("move", "copy"):
                value = copy.deepcopy(_walk(doc, json_pointer(op.get("from", "")), op.get("from")))
                if kind == "move":
                    apply_json6902(doc, [{"op": "remove", "path": op["from"]}], src)
                apply_json6902(doc, [{"op": "add", "path": path, "value": value}], src)
                continue
            parent, last = _walk(doc, parts[:-1], path), parts[-1]
            if isinstance(parent, dict):
                if kind in ("remove", "replace") and last not in parent:
                    raise KustomizeError(f"path {path!r} does not exist")
                if kind == "remove":
                    del parent[last]
                else:
                    parent[last] = copy.deepcopy(op["value"])
            elif isinstance(parent, list):
                if kind == "add" and last == "-":
                    parent.append(copy.deepcopy(op["value"]))
                    continue
                if not last.isdigit() or int(last) > len(parent) or (kind != "add" and int(last) == len(parent)):
                    raise KustomizeError(f"path {path!r}: bad list index")
                idx = int(last)
                if kind == "add":
                    parent.insert(idx, copy.deepcopy(op["value"]))
                elif kind == "remove":
                    del parent[idx]
                else:
                    parent[idx] = copy.deepcopy(op["value"])
            else:
                raise KustomizeError(f"path {path!r}: parent is not a mapping or list")
        except KustomizeError as e:
            raise KustomizeError(f"{src}: operation {i + 1} ({op.get('op') if isinstance(op, dict) else op}): {e}")


def merge_patch(doc, patch, src, path=""):
    """Strategic merge of mappings (null deletes); lists are not merged here."""
    for k, v in patch.items():
        here = f"{path}.{k}" if path else k
        if v is None:
            doc.pop(k, None)
        elif isinstance(v, dict) and isinstance(doc.get(k), dict):
            merge_patch(doc[k], v, src, here)
        elif isinstance(v, list) and k in doc and doc[k] != v:
            raise KustomizeError(f"{src}: {here}: lists in strategic-merge patches are not rendered by "
                                 "check-deploy.py; use a JSON 6902 patch")
        else:
            doc[k] = copy.deepcopy(v)


def build(d, rel, stack=()):
    """Render a kustomization directory to a list of objects (what `kubectl kustomize` prints)."""
    d = os.path.realpath(d)
    if d in stack:
        raise KustomizeError(f"{rel(d)}: kustomization cycle")
    path, k = load_kustomization(d, rel)
    if k["kind"] != "Kustomization":
        raise KustomizeError(f"{rel(path)}: a {k['kind']} cannot be built on its own")
    objs = []
    for r in k.get("resources") or []:
        objs.extend(load_resource(d, r, path, rel, stack + (d,)))
    for c in k.get("components") or []:
        objs = apply_component(objs, os.path.join(d, c), path, rel, stack + (d,))
    return apply_patches(objs, d, path, k, rel)


def load_resource(d, r, kpath, rel, stack):
    if not isinstance(r, str) or "://" in r or r.startswith(("github.com/", "git@")):
        raise KustomizeError(f"{rel(kpath)}: resource {r!r}: only local files and directories are checked")
    p = os.path.join(d, r)
    if os.path.isdir(p):
        if kustomization_file(p) is None:
            raise KustomizeError(f"{rel(kpath)}: resource {r!r}: directory without kustomization.yaml")
        return build(p, rel, stack)
    if not os.path.isfile(p):
        raise KustomizeError(f"{rel(kpath)}: resource {r!r} does not exist")
    _, docs = load_yaml_docs(p)
    for i, doc in enumerate(docs, 1):
        probs = structural_problems(doc)
        if probs:
            raise KustomizeError(f"{rel(p)}:{i}: {'; '.join(probs)}")
    return docs


def apply_component(objs, c, kpath, rel, stack):
    if not os.path.isdir(c):
        raise KustomizeError(f"{rel(kpath)}: component {rel(c)} does not exist")
    cpath, ck = load_kustomization(c, rel)
    if ck["kind"] != "Component":
        raise KustomizeError(f"{rel(kpath)}: {rel(cpath)} is a {ck['kind']}, not a Component")
    c = os.path.realpath(c)
    for r in ck.get("resources") or []:
        objs = objs + load_resource(c, r, cpath, rel, stack + (c,))
    for cc in ck.get("components") or []:
        objs = apply_component(objs, os.path.join(c, cc), cpath, rel, stack + (c,))
    return apply_patches(objs, c, cpath, ck, rel)


def patch_files(d, k):
    return [os.path.realpath(os.path.join(d, p["path"])) for p in k.get("patches") or []
            if isinstance(p, dict) and isinstance(p.get("path"), str)]


def apply_patches(objs, d, kpath, k, rel):
    objs = copy.deepcopy(objs)
    for n, p in enumerate(k.get("patches") or [], 1):
        src = f"{rel(kpath)}: patches[{n - 1}]"
        if not isinstance(p, dict) or (("path" in p) == ("patch" in p)):
            raise KustomizeError(f"{src}: needs exactly one of path: or patch:")
        if "path" in p:
            ppath = os.path.join(d, p["path"])
            if not os.path.isfile(ppath):
                raise KustomizeError(f"{src}: patch file {p['path']} does not exist")
            src = f"{src} ({rel(ppath)})"
            _, docs = load_yaml_docs(ppath)
        else:
            docs = [x for x in yaml.safe_load_all(p["patch"]) if x is not None]
        if len(docs) != 1:
            raise KustomizeError(f"{src}: exactly one patch document expected, found {len(docs)}")
        patch, target = docs[0], p.get("target")
        if isinstance(patch, list):
            if not isinstance(target, dict):
                raise KustomizeError(f"{src}: a JSON 6902 patch needs a target")
        elif isinstance(patch, dict):
            if target is None:
                probs = structural_problems(patch)
                if probs:
                    raise KustomizeError(f"{src}: strategic-merge patch without target: {'; '.join(probs)}")
                g, v = (patch["apiVersion"].split("/", 1) if "/" in patch["apiVersion"] else ("", patch["apiVersion"]))
                target = {"group": re.escape(g), "version": re.escape(v), "kind": re.escape(patch["kind"]),
                          "name": re.escape(patch["metadata"]["name"])}
                if patch["metadata"].get("namespace"):
                    target["namespace"] = re.escape(patch["metadata"]["namespace"])
        else:
            raise KustomizeError(f"{src}: a patch is a list (JSON 6902) or a mapping (strategic merge)")
        hits = [i for i, o in enumerate(objs) if gvk_matches(o, target)]
        if not hits:
            raise KustomizeError(f"{src}: target {json.dumps(target, sort_keys=True)} matches no resource")
        if isinstance(patch, dict) and patch.get("$patch") == "delete":
            objs = [o for i, o in enumerate(objs) if i not in hits]
            continue
        for i in hits:
            if isinstance(patch, list):
                apply_json6902(objs[i], patch, src)
            else:
                body = {kk: vv for kk, vv in patch.items() if kk not in ("apiVersion", "kind", "$patch")}
                body["metadata"] = {kk: vv for kk, vv in (body.get("metadata") or {}).items()
                                    if kk not in ("name", "namespace")}
                merge_patch(objs[i], body, src)
    return objs


def crd_only(base, rel):
    """Whether a Kustomization renders only CustomResourceDefinitions (deploy/crds): such a bundle is
    not combined with the Components, which patch the webhook installation."""
    try:
        objs = build(base, rel)
    except (KustomizeError, yaml.YAMLError, OSError):
        return False
    return bool(objs) and all(o.get("kind") == "CustomResourceDefinition" for o in objs)


def render_with_cli(overlay_dir, components):
    """Render with kubectl/kustomize (None if neither is installed). components: extra Component dirs."""
    if os.environ.get("SIGWARD_DEPLOY_NO_KUSTOMIZE_CLI"):
        return None
    cli = (["kustomize", "build"] if shutil.which("kustomize") else
           ["kubectl", "kustomize"] if shutil.which("kubectl") else None)
    if cli is None:
        return None
    with tempfile.TemporaryDirectory(prefix="sigward-deploy-") as tmp:
        target = overlay_dir
        if components:
            # kustomize wants relative paths in resources/components.
            with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
                yaml.safe_dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                                "resources": [os.path.relpath(overlay_dir, tmp)],
                                "components": [os.path.relpath(c, tmp) for c in components]}, f)
            target = tmp
        res = subprocess.run(cli + [target], capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise KustomizeError(f"`{' '.join(cli)}` failed: {res.stderr.strip()}")
        return " ".join(cli), [d for d in yaml.safe_load_all(res.stdout) if d is not None]


def obj_key(o):
    m = o.get("metadata") or {}
    return (o.get("apiVersion"), o.get("kind"), m.get("namespace", ""), m.get("name"))


# ---------------------------------------------------------------------------------------------
# Consistency of one rendered build

def pod_spec(o):
    spec = o.get("spec") or {}
    if o["kind"] == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    return ((spec.get("template") or {}).get("spec")), ((spec.get("template") or {}).get("metadata") or {})


def selector_matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_build(objs, where, schemas, report):
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    names = lambda kind, ns=None: {(o["metadata"].get("namespace"), o["metadata"]["name"])
                                   for o in by_kind.get(kind, [])}
    seen = Counter(obj_key(o) for o in objs)
    for key, n in seen.items():
        if n > 1:
            report.error(where, f"{key[1]} {key[2]}/{key[3]} is defined {n} times")
    namespaces = {o["metadata"]["name"] for o in by_kind.get("Namespace", [])}
    for o in objs:
        ns = o["metadata"].get("namespace")
        if schemas.cluster_scoped(o):
            if ns:
                report.error(where, f"{describe(o)}: cluster-scoped, must not set metadata.namespace")
        elif not ns:
            report.error(where, f"{describe(o)}: namespaced, must set metadata.namespace (else it lands in "
                                "the kubectl context's namespace)")
        elif ns not in namespaces:
            report.error(where, f"{describe(o)}: namespace {ns} is not created by this build")
    secrets_made = names("Secret") | {(c["metadata"].get("namespace"), (c.get("spec") or {}).get("secretName"))
                                      for c in by_kind.get("Certificate", [])}
    service_ca = False
    for s in by_kind.get("Service", []):
        ann = s["metadata"].get("annotations") or {}
        if "service.beta.openshift.io/serving-cert-secret-name" in ann:
            service_ca = True
            secrets_made.add((s["metadata"].get("namespace"), ann["service.beta.openshift.io/serving-cert-secret-name"]))
    workloads = [o for o in objs if o["kind"] in WORKLOAD_KINDS | {"CronJob"}]
    for w in workloads:
        ns = w["metadata"].get("namespace")
        spec, tmeta = pod_spec(w)
        if not spec:
            continue
        labels = tmeta.get("labels") or {}
        sel = ((w.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if w["kind"] != "CronJob" and w["kind"] != "Job" and not selector_matches(sel, labels):
            report.error(where, f"{describe(w)}: spec.selector.matchLabels does not match the Pod template labels")
        sa = spec.get("serviceAccountName")
        if sa and (ns, sa) not in names("ServiceAccount"):
            report.error(where, f"{describe(w)}: ServiceAccount {sa} is not in this build")
        for v in spec.get("volumes") or []:
            if "configMap" in v and (ns, v["configMap"].get("name")) not in names("ConfigMap") \
                    and not v["configMap"].get("optional"):
                report.error(where, f"{describe(w)}: volume {v['name']}: ConfigMap {v['configMap'].get('name')} "
                                    "is not in this build")
            if "secret" in v and (ns, v["secret"].get("secretName")) not in secrets_made \
                    and not v["secret"].get("optional"):
                report.error(where, f"{describe(w)}: volume {v['name']}: nothing in this build creates Secret "
                                    f"{v['secret'].get('secretName')} (Secret, cert-manager Certificate or "
                                    "service-ca annotation)")
        vol_names = {v["name"] for v in spec.get("volumes") or []}
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            ports = {p.get("name") for p in c.get("ports") or []} | {p.get("containerPort") for p in c.get("ports") or []}
            for m in c.get("volumeMounts") or []:
                if m["name"] not in vol_names:
                    report.error(where, f"{describe(w)}: container {c['name']}: volumeMount {m['name']} has no volume")
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if port is not None and port not in ports:
                    report.error(where, f"{describe(w)}: container {c['name']}: {probe} port {port} is not a container port")
            if service_ca:
                for sc_where, sc in (("pod", spec.get("securityContext") or {}), ("container", c.get("securityContext") or {})):
                    for f in ("runAsUser", "runAsGroup"):
                        if f in sc:
                            report.error(where, f"{describe(w)}: OpenShift build sets {sc_where} securityContext.{f}; "
                                                "the SCC assigns it")
        for pdb in by_kind.get("PodDisruptionBudget", []):
            if pdb["metadata"].get("namespace") == ns and selector_matches(
                    ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels"), labels):
                break
        else:
            if w["kind"] == "Deployment":
                report.error(where, f"{describe(w)}: no PodDisruptionBudget selects its Pods")
    services = {(s["metadata"].get("namespace"), s["metadata"]["name"]): s for s in by_kind.get("Service", [])}
    for s in services.values():
        sel = (s.get("spec") or {}).get("selector") or {}
        backends = [w for w in workloads if w["metadata"].get("namespace") == s["metadata"].get("namespace")
                    and selector_matches(sel, pod_spec(w)[1].get("labels") or {})]
        if not backends:
            report.error(where, f"{describe(s)}: selector matches no workload's Pods")
        for port in (s.get("spec") or {}).get("ports") or []:
            tp = port.get("targetPort", port.get("port"))
            for w in backends:
                cports = [p for c in pod_spec(w)[0].get("containers") or [] for p in c.get("ports") or []]
                if not any(tp in (p.get("name"), p.get("containerPort")) for p in cports):
                    report.error(where, f"{describe(s)}: targetPort {tp} is no container port of {describe(w)}")
    certs = {(c["metadata"].get("namespace"), c["metadata"]["name"]) for c in by_kind.get("Certificate", [])}
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for cfg in by_kind.get(kind, []):
            ann = cfg["metadata"].get("annotations") or {}
            inject = ann.get("cert-manager.io/inject-ca-from")
            if inject and tuple(inject.split("/", 1)) not in certs:
                report.error(where, f"{describe(cfg)}: cert-manager.io/inject-ca-from {inject} names no Certificate "
                                    "in this build")
            for hook in cfg.get("webhooks") or []:
                svc_ref = (hook.get("clientConfig") or {}).get("service")
                has_ca = bool((hook.get("clientConfig") or {}).get("caBundle"))
                if not (has_ca or inject or ann.get("service.beta.openshift.io/inject-cabundle") == "true"):
                    report.error(where, f"{describe(cfg)}: webhook {hook.get('name')}: no caBundle and no CA injection")
                if inject and ann.get("service.beta.openshift.io/inject-cabundle"):
                    report.error(where, f"{describe(cfg)}: both cert-manager and service-ca would inject the CA")
                if not svc_ref:
                    continue
                svc = services.get((svc_ref.get("namespace"), svc_ref.get("name")))
                if svc is None:
                    report.error(where, f"{describe(cfg)}: webhook {hook.get('name')}: Service "
                                        f"{svc_ref.get('namespace')}/{svc_ref.get('name')} is not in this build")
                    continue
                if svc_ref.get("port", 443) not in [p.get("port") for p in (svc.get("spec") or {}).get("ports") or []]:
                    report.error(where, f"{describe(cfg)}: webhook {hook.get('name')}: port {svc_ref.get('port', 443)} "
                                        f"is not a port of {describe(svc)}")
                exprs = (hook.get("namespaceSelector") or {}).get("matchExpressions") or []
                if not any(e.get("key") == "kubernetes.io/metadata.name" and e.get("operator") == "NotIn"
                           and svc_ref.get("namespace") in (e.get("values") or []) for e in exprs):
                    report.error(where, f"{describe(cfg)}: webhook {hook.get('name')}: namespaceSelector must "
                                        f"exclude its own namespace {svc_ref.get('namespace')} (fail-closed deadlock)")


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deploy", default="deploy", help="directory to check (default: deploy)")
    ap.add_argument("--k8s-versions", default="1.29,1.37",
                    help="comma-separated Kubernetes minor versions to validate against")
    ap.add_argument("--root", default=".", help="paths in messages are relative to this directory")
    args = ap.parse_args()
    root = os.path.realpath(args.root)
    rel = lambda p: os.path.relpath(os.path.realpath(p), root)
    versions = [v.strip() for v in args.k8s_versions.split(",") if v.strip()]
    deploy = os.path.realpath(args.deploy)
    report = Report()
    print(f"check-deploy: kubernetes-validate {KV_VERSION}, jsonschema {importlib.metadata.version('jsonschema')}, "
          f"Kubernetes {', '.join(versions)} (strict), {rel(deploy)}/")

    files = sorted(os.path.join(dp, f) for dp, dns, fs in os.walk(deploy) for f in fs
                   if f.endswith((".yaml", ".yml")) or f == "Kustomization")
    parsed = {}
    for f in files:
        try:
            text, docs = load_yaml_docs(f)
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            report.error(rel(f), f"not YAML: {e}")
            continue
        parsed[f] = docs
        if "crds" not in rel(f).split(os.sep) and not text.startswith("# "):
            report.error(f"{rel(f)}:1", "a deploy file starts with a one-line `# ...` comment saying what it is")

    # Kustomizations first: which files are kustomizations, patches and resources.
    kust_dirs, patch_set, referenced = [], set(), set()
    for f in files:
        if os.path.basename(f) in KUSTOMIZATION_NAMES and f in parsed:
            d = os.path.dirname(f)
            try:
                _, k = load_kustomization(d, rel)
            except KustomizeError as e:
                report.error(rel(f), str(e))
                continue
            kust_dirs.append((d, k["kind"]))
            patch_set.update(patch_files(d, k))
            for r in k.get("resources") or []:
                if isinstance(r, str):
                    referenced.add(os.path.realpath(os.path.join(d, r)))
            report.skip(f"{rel(f)}:1", f"kustomize {k['kind']}: no schema, references checked by rendering")
    crd_docs = [(rel(f), d) for f, docs in parsed.items() for d in docs
                if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
                and str(d.get("apiVersion", "")).startswith("apiextensions.k8s.io/")]
    schemas = Schemas(versions, crd_docs)

    for f in files:
        if f not in parsed or os.path.basename(f) in KUSTOMIZATION_NAMES:
            continue
        docs = parsed[f]
        if os.path.realpath(f) in patch_set:
            for i, doc in enumerate(docs, 1):
                kind = "JSON 6902" if isinstance(doc, list) else "strategic-merge"
                report.skip(f"{rel(f)}:{i}", f"kustomize {kind} patch: applied and validated in the builds")
            continue
        kdir = os.path.dirname(f)
        if kustomization_file(kdir) and os.path.realpath(f) not in referenced:
            report.error(rel(f), f"not listed in {rel(kustomization_file(kdir))} (resources:) nor used as a patch")
        if not docs:
            report.error(rel(f), "no YAML document")
        for i, doc in enumerate(docs, 1):
            where = f"{rel(f)}:{i}"
            schemas.check(doc, where, report)
            if isinstance(doc, dict) and doc.get("kind") == "ConfigMap" and \
                    (doc.get("metadata") or {}).get("name") == POLICY_CONFIGMAP:
                check_policy_configmap(doc, where, schemas, report)

    # Builds: each Kustomization, and each Kustomization plus each Component.
    builds = []
    bases = [d for d, kind in kust_dirs if kind == "Kustomization"]
    comps = [d for d, kind in kust_dirs if kind == "Component"]
    for b in bases:
        builds.append((b, []))
        if not crd_only(b, rel):
            builds += [(b, [c]) for c in comps]
    n_builds, n_build_docs, cli_used = 0, 0, None
    for base, cs in builds:
        name = rel(base) + "".join(f" + {rel(c)}" for c in cs)
        try:
            objs = build(base, rel)
            for c in cs:
                objs = apply_component(objs, c, os.path.join(base, "(overlay)"), rel, ())
        except (KustomizeError, yaml.YAMLError, OSError) as e:
            report.error(f"build {name}", str(e))
            continue
        try:
            cli = render_with_cli(base, cs)
        except (KustomizeError, subprocess.TimeoutExpired) as e:
            report.error(f"build {name}", str(e))
            cli = None
        if cli is not None:
            cli_used, cli_objs = cli
            mine = {obj_key(o): o for o in objs}
            theirs = {obj_key(o): o for o in cli_objs}
            for key in sorted(set(mine) | set(theirs), key=str):
                if mine.get(key) != theirs.get(key):
                    report.error(f"build {name}", f"{key[1]} {key[2]}/{key[3]}: check-deploy.py renders it "
                                                  f"differently from `{cli_used}`: "
                                                  f"{json.dumps(mine.get(key), sort_keys=True)[:300]} vs "
                                                  f"{json.dumps(theirs.get(key), sort_keys=True)[:300]}")
        before = len(report.errors)
        # Built objects count once (as one build): only their errors are printed.
        report.quiet = True
        for i, o in enumerate(objs, 1):
            schemas.check(o, f"build {name}:{i}", report)
        report.quiet = False
        check_build(objs, f"build {name}", schemas, report)
        if len(report.errors) == before:
            n_builds += 1
            n_build_docs += len(objs)
            print(f"ok    build {name}: {len(objs)} objects valid and consistent"
                  + (f", identical to `{cli_used}`" if cli is not None else ""))
    if cli_used is None:
        report.notes.append("no kubectl/kustomize: builds rendered by check-deploy.py only")

    reasons = "; ".join(f"{n} {r}" for r, n in sorted(report.skipped.items()))
    print(f"deploy manifests: {report.valid} documents valid, {sum(report.skipped.values())} skipped"
          f" ({reasons or 'none'}); {n_builds}/{len(builds)} kustomize builds valid ({n_build_docs} objects"
          f"{', cross-checked with `' + cli_used + '`' if cli_used else ''})"
          + (f"; {len(report.errors)} ERRORS" if report.errors else ""))
    for n in report.notes:
        print(f"note: {n}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # a crash of the checker is not a verdict on the manifests: exit 2, not 1
        import traceback
        traceback.print_exc()
        sys.exit(2)
