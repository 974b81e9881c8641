#!/usr/bin/env bash
# check-deploy.sh: offline checks of the Kubernetes/OpenShift manifests in deploy/ (no cluster needed).
#
#   scripts/check-deploy.sh              validate every YAML document under deploy/ and every
#                                        kustomize build; exit 1 on any error (`path:doc: message`)
#   scripts/check-deploy.sh --self-test  prove the check can fail: deliberately broken manifests
#                                        (heredocs below) must be rejected, a good one accepted
#
# What is checked (details in scripts/check-deploy.py):
# - built-in kinds against the Kubernetes JSON schemas bundled by the PyPI package kubernetes-validate
#   (pinned in scripts/peers/requirements-deploy.txt), strict: unknown fields are errors; for each
#   version in $SIGWARD_DEPLOY_K8S_VERSIONS (default 1.29,1.37: OpenShift 4.16's Kubernetes and the
#   newest bundled);
# - custom kinds (cert-manager, CRD instances) against deploy/crds/ once the CRDs are there, else
#   skipped by name with a structural check (apiVersion, kind, metadata.name);
# - the policies in ConfigMap sigward-policies, including the commented example;
# - kustomizations: rendered in Python (every resource and patch file must exist, every patch must
#   match), each build and each build + Component validated and checked for consistency; with
#   kubectl or kustomize installed the builds are also rendered by it and must be identical.
# Closing line: `deploy manifests: N documents valid, M skipped (reasons); ...`.
#
# The venv lives in ${SIGWARD_PEERS_DIR:-<repo>/.peers}/venv-deploy and is reused while the
# requirements file is unchanged. SIGWARD_DEPLOY_NO_KUSTOMIZE_CLI=1 ignores kubectl/kustomize.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${SIGWARD_PEERS_DIR:-$REPO/.peers}
VENV=$DIR/venv-deploy
REQ=$REPO/scripts/peers/requirements-deploy.txt
CHECK=$REPO/scripts/check-deploy.py
K8S_VERSIONS=${SIGWARD_DEPLOY_K8S_VERSIONS:-1.29,1.37}

log() { printf 'check-deploy: %s\n' "$*" >&2; }
die() { printf 'check-deploy: ERROR: %s\n' "$*" >&2; exit 2; }

install_venv() {
  local want
  want=$(sha256sum "$REQ" | cut -d' ' -f1)
  if [ "$(cat "$VENV/.sigward-stamp" 2>/dev/null)" = "$want" ] \
     && "$VENV/bin/python" -c 'import kubernetes_validate' 2>/dev/null; then
    return 0
  fi
  log "python venv $VENV + pip install -r scripts/peers/requirements-deploy.txt"
  rm -f "$VENV/.sigward-stamp"
  # A venv whose interpreter is gone (python upgraded or moved) cannot be repaired by pip: make it anew.
  "$VENV/bin/python" -c '' 2>/dev/null || { rm -rf "$VENV"; mkdir -p "$DIR"; python3 -m venv "$VENV" || die "python3 -m venv failed"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ" || die "pip install failed in $VENV"
  "$VENV/bin/python" -c 'import kubernetes_validate' || die "kubernetes_validate does not import in $VENV"
  echo "$want" > "$VENV/.sigward-stamp"
}

run_check() { # DEPLOY_DIR [ROOT]
  "$VENV/bin/python" "$CHECK" --deploy "$1" --root "${2:-$REPO}" --k8s-versions "$K8S_VERSIONS"
}

self_test() {
  local tmp out rc pass=0 fail=0
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/deploy/missing-resource" "$tmp/deploy/bad-patch"

  # 1. Unknown field (imagePullPolicyy) and wrong type (replicas: "two"): both must be reported.
  cat > "$tmp/deploy/broken-deployment.yaml" <<'EOF'
# Deliberately broken Deployment: an unknown field and a wrong type.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
  namespace: default
spec:
  replicas: two
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
        - name: app
          image: registry.example.com/app:1
          imagePullPolicyy: Always
EOF
  # 2. The positive control: the same Deployment, fixed, must pass.
  cat > "$tmp/deploy/good-deployment.yaml" <<'EOF'
# Correct Deployment: must be accepted.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: good
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: good}
  template:
    metadata:
      labels: {app: good}
    spec:
      containers:
        - name: app
          image: registry.example.com/app:1
          imagePullPolicy: Always
EOF
  # 3. A kustomization listing a file that does not exist.
  cat > "$tmp/deploy/missing-resource/kustomization.yaml" <<'EOF'
# Kustomization with a missing resource.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
  - missing.yaml
EOF
  # 4. A patch whose target matches nothing.
  cat > "$tmp/deploy/bad-patch/kustomization.yaml" <<'EOF'
# Kustomization whose patch targets a Deployment that is not there.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
patches:
  - target: {kind: Deployment, name: nope}
    patch: |-
      - op: remove
        path: /spec/replicas
EOF
  for d in missing-resource bad-patch; do
    cat > "$tmp/deploy/$d/namespace.yaml" <<'EOF'
# Namespace for the self-test.
apiVersion: v1
kind: Namespace
metadata:
  name: self-test
EOF
  done

  set +e
  out=$(SIGWARD_DEPLOY_NO_KUSTOMIZE_CLI=1 run_check "$tmp/deploy" "$tmp" 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$out" | sed 's/^/  | /'
  expect() { # NAME PATTERN: the check's output must contain PATTERN (fixed string)
    if printf '%s\n' "$out" | grep -qF -- "$2"; then
      printf 'PASS %s\n' "$1"; pass=$((pass + 1))
    else
      printf 'FAIL %s: output lacks %s\n' "$1" "$2"; fail=$((fail + 1))
    fi
  }
  if [ "$rc" -eq 1 ]; then
    printf 'PASS broken manifests make the check exit 1\n'; pass=$((pass + 1))
  else
    printf 'FAIL broken manifests: check exited %s, not 1\n' "$rc"; fail=$((fail + 1))
  fi
  expect "unknown field rejected (strict)" \
    "ERROR deploy/broken-deployment.yaml:1: Deployment default/broken: spec.template.spec.containers[0]: Additional properties are not allowed ('imagePullPolicyy' was unexpected)"
  expect "wrong type rejected" \
    "ERROR deploy/broken-deployment.yaml:1: Deployment default/broken: spec.replicas: 'two' is not of type 'integer'"
  expect "good Deployment accepted" "ok    deploy/good-deployment.yaml:1: Deployment default/good"
  expect "missing kustomize resource rejected" \
    "ERROR build deploy/missing-resource: deploy/missing-resource/kustomization.yaml: resource 'missing.yaml' does not exist"
  expect "patch whose target matches nothing rejected" \
    "ERROR build deploy/bad-patch: deploy/bad-patch/kustomization.yaml: patches[0]: target {\"kind\": \"Deployment\", \"name\": \"nope\"} matches no resource"
  printf 'self-test: %d passed, %d failed\n' "$pass" "$fail"
  [ "$fail" -eq 0 ]
}

cd "$REPO"
case "${1:-}" in
  --self-test) install_venv; self_test ;;
  "") install_venv; run_check "$REPO/deploy" ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *) die "unknown argument $1 (try --help)" ;;
esac
