#!/usr/bin/env bash
# peers.sh: install and run the real third-party peers that sigward's integration tests talk to,
# on 127.0.0.1 only, from Debian 12 packages (plus two Debian 13 binaries, one crate, npm and PyPI packages).
#
#   scripts/peers.sh install   docker-registry (distribution 2.8), htpasswd, openssl, python3, curl (apt);
#                              cosign 2.5 + skopeo 1.18 from Debian 13 unpacked into $DIR/trixie (nothing
#                              installed system-wide); ferro-oci-server 1.0.0 (registry WITH the referrers
#                              API, cargo install, 1-2.5 min once); helper $DIR/bin/mkoci;
#                              npm packages of scripts/peers/package.json (+ lock) into $DIR/npm: @sigstore/mock
#                              0.12.1, oauth2-mock-server 8.2.3, sigstore-js 4.1.1, @sigstore/cli 0.8.1, @sigstore/oci
#                              0.4.0 (Node 20 caps these versions); sigstore-python 4.5.1 in the venv $DIR/venv;
#                              etcd 3.4 (apt etcd-server, its service is not started) and kube-apiserver v1.36.3
#                              built from the Go module proxy into $DIR/bin (go >= 1.26; about 6 min and 1.9 GB RAM
#                              once, seconds with warm Go caches: go env GOMODCACHE GOCACHE).
#   scripts/peers.sh start [NAME...]
#                              CA + server cert + htpasswd (once), then (default: all seven peers)
#                                registry-tls   TLS + basic auth distribution 2.8   127.0.0.1:${SIGWARD_REGISTRY_TLS_PORT:-5443}
#                                registry-http  plain HTTP distribution 2.8          127.0.0.1:${SIGWARD_REGISTRY_HTTP_PORT:-5001}
#                                registry-http-auth  plain HTTP + basic auth distribution 2.8  127.0.0.1:${SIGWARD_REGISTRY_HTTP_AUTH_PORT:-5003}
#                                               (for @sigstore/oci, which talks http to 127.0.0.1 and needs a 401 challenge)
#                                ferro          plain HTTP ferro-oci-server          127.0.0.1:${SIGWARD_REGISTRY_FERRO_PORT:-5002}
#                                sigstore       Fulcio (v1+v2) + Rekor (v1+v2) + RFC3161 TSA 127.0.0.1:${SIGWARD_SIGSTORE_PORT:-8300}
#                                               (@sigstore/mock); trust files in $DIR/run/sigstore/
#                                oidc           OIDC provider (oauth2-mock-server)  127.0.0.1:${SIGWARD_OIDC_PORT:-8400}
#                                kube           Kubernetes API server (kube-apiserver + etcd; no kubelet, scheduler or
#                                               controllers: objects are stored, nothing runs) 127.0.0.1:${SIGWARD_KUBE_PORT:-6443},
#                                               etcd 127.0.0.1:${SIGWARD_KUBE_ETCD_PORT:-2379} (+1 for its peer port);
#                                               admin token, kubeconfig $DIR/kube/kubeconfig
#                              and writes $DIR/env (source it). A peer that already runs is left alone; a registry
#                              that is (re)started gets empty storage, a (re)started sigstore peer new keys and
#                              new trust files (re-read them after every start), a (re)started kube peer an empty etcd.
#   scripts/peers.sh id-token [EMAIL]   print an OIDC ID token (RS256 JWT, aud "sigstore", sub = email = EMAIL,
#                              default sigward-test@example.com) from the running oidc peer
#   scripts/peers.sh stop [NAME...] | restart [NAME...] | status | env
#
# DIR = ${SIGWARD_PEERS_DIR:-<repo>/.peers}. Pid files and logs: $DIR/run/<name>.{pid,log} (the kube peer is two
# processes: kube-etcd and kube-apiserver).
# Processes are only ever stopped through their pid files, never by name.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${SIGWARD_PEERS_DIR:-$REPO/.peers}
BIN=$DIR/bin
RUN=$DIR/run
PKI=$DIR/pki
TRIXIE=$DIR/trixie
FERRO=$DIR/cargo/bin/ferro-oci-server
FERRO_VERSION=1.0.0
TLS_PORT=${SIGWARD_REGISTRY_TLS_PORT:-5443}
HTTP_PORT=${SIGWARD_REGISTRY_HTTP_PORT:-5001}
HTTP_AUTH_PORT=${SIGWARD_REGISTRY_HTTP_AUTH_PORT:-5003}
FERRO_PORT=${SIGWARD_REGISTRY_FERRO_PORT:-5002}
START_TIMEOUT=${SIGWARD_PEERS_START_TIMEOUT:-15}   # seconds per registry
REG_USER=sigward
REG_PASSWORD=sigward-test-pw
SRC=$REPO/scripts/peers          # package.json, requirements.txt and helper sources for the keyless peers
NPM=$DIR/npm
VENV=$DIR/venv
SIGSTORE_PORT=${SIGWARD_SIGSTORE_PORT:-8300}
OIDC_PORT=${SIGWARD_OIDC_PORT:-8400}
SIGSTORE_OUT=$RUN/sigstore       # trust files of the running sigstore peer
DEFAULT_SUBJECT=sigward-test@example.com
# Kubernetes: kube-apiserver built from k8s.io/kubernetes (its staging modules k8s.io/api, apiserver, ... are the
# published v0.<minor>.<patch>), the newest release whose go.mod accepts go 1.26; etcd from Debian 12.
KUBE_VERSION=v1.36.3
KUBE_APISERVER=$BIN/kube-apiserver
KUBE=$DIR/kube                   # certificates, keys, token file, kubeconfig
KUBE_SRC=$DIR/src/kube-apiserver # the Go module the API server is built from
KUBE_PORT=${SIGWARD_KUBE_PORT:-6443}
KUBE_ETCD_PORT=${SIGWARD_KUBE_ETCD_PORT:-2379}   # client port; its peer port is the next one
KUBE_START_TIMEOUT=${SIGWARD_KUBE_START_TIMEOUT:-90}   # seconds until /readyz answers 200
KUBE_USER=sigward-admin          # in group system:masters
KUBE_TOKEN=sigward-test-kube-admin-token
# Small helper scripts use Debian's python3 (APT_PKGS below): a pyenv shim in PATH costs 0.15 s per call.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes

log() { printf 'peers: %s\n' "$*" >&2; }
die() { printf 'peers: ERROR: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes "$@"; fi; }

# ------------------------------------------------------------------------------------------ install
APT_PKGS=(docker-registry apache2-utils openssl ca-certificates python3 curl debian-archive-keyring etcd-server)

install_apt() {
  local missing=() p
  local want=("${APT_PKGS[@]}")
  command -v cc >/dev/null 2>&1 || want+=(gcc libc6-dev)    # linker for the ferro build
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "apt packages: present"; return 0; fi
  # docker-registry's (etcd-server's) maintainer script would start a system-wide registry on *:5000 (etcd on :2379); a
  # policy-rc.d that answers 101 stops that (Debian's documented way). Only ours is removed again.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 0755 $policy"
    own_policy=1
  fi
  log "apt-get update && apt-get install ${missing[*]}"
  local rc=0
  { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  [ $own_policy = 1 ] && as_root rm -f "$policy"
  [ $rc = 0 ] || die "apt-get failed (exit $rc)"
}

debian_mirror() {
  [ -n "${SIGWARD_PEERS_DEBIAN_MIRROR:-}" ] && { echo "$SIGWARD_PEERS_DEBIAN_MIRROR"; return; }
  local m
  m=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n' | grep -v -e security -e '^$' | head -1 || true)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
                       /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  [ -n "$m" ] || die "no Debian mirror in the apt sources (set SIGWARD_PEERS_DEBIAN_MIRROR)"
  echo "$m"
}

trixie_apt() {
  apt-get -o Dir::Etc::SourceList="$TRIXIE/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$TRIXIE/apt/lists" -o Dir::Cache="$TRIXIE/apt/cache" \
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null \
    -o APT::Sandbox::User=root -o Acquire::Languages=none "$@"
}

write_trixie_wrappers() {
  local triplet loader
  case $(dpkg --print-architecture) in
    amd64) triplet=x86_64-linux-gnu;  loader=ld-linux-x86-64.so.2 ;;
    arm64) triplet=aarch64-linux-gnu; loader=ld-linux-aarch64.so.1 ;;
    *) die "unsupported architecture $(dpkg --print-architecture)" ;;
  esac
  mkdir -p "$BIN"
  # skopeo 1.18 needs glibc >= 2.38: run it with trixie's own loader and libraries.
  write_if_changed "$BIN/skopeo" 0755 <<EOF
#!/bin/sh
# skopeo 1.18 (Debian 13, containers/image 5.34, sigstore enabled) run with Debian 13's glibc.
R=\$(dirname "\$(readlink -f "\$0")")/../trixie/root
exec "\$R/usr/lib/$triplet/$loader" --library-path "\$R/usr/lib/$triplet" "\$R/usr/bin/skopeo" "\$@"
EOF
  # cosign needs only glibc >= 2.34: it runs natively.
  write_if_changed "$BIN/cosign" 0755 <<'EOF'
#!/bin/sh
# cosign 2.5 (Debian 13). Source $SIGWARD_PEERS_DIR/env first: it keeps cosign off the public TUF CDN.
exec "$(dirname "$(readlink -f "$0")")/../trixie/root/usr/bin/cosign" "$@"
EOF
}

trixie_ok() {
  [ -x "$TRIXIE/root/usr/bin/cosign" ] && [ -x "$TRIXIE/root/usr/bin/skopeo" ] || return 1
  "$BIN/skopeo" --version 2>/dev/null | grep -q '^skopeo version 1\.18\.' || return 1
  "$BIN/cosign" version 2>/dev/null | grep -q 'GitVersion' || return 1
}

install_trixie() {
  write_trixie_wrappers
  if trixie_ok; then log "cosign + $("$BIN/skopeo" --version): present"; return 0; fi
  # The combined keyring has trixie's keys from debian-archive-keyring 2023.3+deb12u1 on.
  [ -e /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || as_root apt-get install -y -qq --only-upgrade debian-archive-keyring >/dev/null
  rm -rf "$TRIXIE"
  mkdir -p "$TRIXIE/apt/lists/partial" "$TRIXIE/apt/cache/archives/partial" "$TRIXIE/debs" "$TRIXIE/root"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) trixie main" > "$TRIXIE/apt/sources.list"
  log "trixie: apt-get update (private lists in $TRIXIE/apt) + download cosign skopeo libc6 ..."
  trixie_apt update -qq
  if ! (cd "$TRIXIE/debs" && trixie_apt download -qq cosign skopeo libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0 \
          > "$TRIXIE/download.log" 2>&1); then
    grep -v 'unsandboxed' "$TRIXIE/download.log" >&2 || true
    die "trixie: apt-get download failed"
  fi
  local d n=0
  for d in "$TRIXIE"/debs/*.deb; do dpkg-deb -x "$d" "$TRIXIE/root"; n=$((n + 1)); done
  [ $n -ge 7 ] || die "trixie: only $n of 7 packages downloaded (see above)"
  (cd "$TRIXIE/debs" && ls) > "$TRIXIE/packages.txt"
  rm -rf "$TRIXIE/apt" "$TRIXIE/debs" "$TRIXIE/download.log"
  trixie_ok || die "trixie cosign/skopeo do not run (try: $BIN/skopeo --version)"
  log "trixie: $("$BIN/skopeo" --version), cosign $(sed -n 's/^cosign_\(.*\)_[a-z0-9]*\.deb$/\1/p' "$TRIXIE/packages.txt")"
}

install_ferro() {
  if [ -x "$FERRO" ] && grep -q "^\"ferro-oci-server $FERRO_VERSION " "$DIR/cargo/.crates.toml" 2>/dev/null; then
    log "ferro-oci-server $FERRO_VERSION: present"; return 0
  fi
  local cargo=${CARGO:-}
  [ -n "$cargo" ] || cargo=$(command -v cargo || true)
  [ -n "$cargo" ] || { [ -x "$HOME/.cargo/bin/cargo" ] && cargo=$HOME/.cargo/bin/cargo; } || true
  [ -n "$cargo" ] || die "cargo not found: needed to build ferro-oci-server (install Rust with rustup)"
  log "ferro-oci-server $FERRO_VERSION: cargo install (about 2.5 min on 2 cores)"
  local t0=$SECONDS
  "$cargo" install --quiet --locked --root "$DIR/cargo" "ferro-oci-server@$FERRO_VERSION"
  [ -x "$FERRO" ] || die "cargo install did not produce $FERRO"
  log "ferro-oci-server built in $((SECONDS - t0)) s"
}

# write_if_changed FILE MODE < content: rewrite only when the content differs (keeps reruns quiet).
write_if_changed() {
  local f=$1 mode=$2 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat > "$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; else chmod "$mode" "$tmp"; mv -f "$tmp" "$f"; fi
}

install_mkoci() {
  mkdir -p "$BIN"
  write_if_changed "$BIN/mkoci" 0755 <<'PYEOF'
#!/usr/bin/env python3
"""mkoci DIR [TAG] [CONTENT]: add a minimal one-layer OCI image (a gzip tar holding hello.txt = CONTENT)
to the OCI image layout DIR under TAG (default "latest"; an existing TAG is replaced, other tags are
kept) and print its manifest digest. Deterministic: the same CONTENT always gives the same digest,
distinct CONTENT gives distinct digests. Use with: skopeo copy oci:DIR:TAG docker://..."""
import gzip, hashlib, io, json, os, sys, tarfile

if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
    sys.exit(__doc__)
out = sys.argv[1]
tag = sys.argv[2] if len(sys.argv) > 2 else "latest"
content = (sys.argv[3] if len(sys.argv) > 3 else "hello from sigward peers\n").encode()
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(b):
    d = hashlib.sha256(b).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(b)
    return "sha256:" + d

tb = io.BytesIO()
with tarfile.open(fileobj=tb, mode="w", format=tarfile.PAX_FORMAT) as tf:
    ti = tarfile.TarInfo("hello.txt"); ti.size = len(content); ti.mtime = 0; ti.mode = 0o644
    tf.addfile(ti, io.BytesIO(content))
raw = tb.getvalue()
gz = gzip.compress(raw, mtime=0)
layer = put(gz)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/hello.txt"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]}},
                 separators=(",", ":")).encode()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": len(gz)}]},
                 separators=(",", ":")).encode()
mand = put(man)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
idx_path = os.path.join(out, "index.json")
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
if os.path.exists(idx_path):
    with open(idx_path) as f:
        idx = json.load(f)
idx["manifests"] = [m for m in idx.get("manifests", [])
                    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
idx["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mand, "size": len(man),
                         "annotations": {"org.opencontainers.image.ref.name": tag}})
with open(idx_path, "w") as f:
    json.dump(idx, f)
print(mand)
PYEOF
}

# stamp FILE...: one hash over the given files (what an install step was made from).
stamp() { cat "$@" | sha256sum | cut -c1-64; }

NPM_HELPERS=(sigstore-mock-server.js oidc-server.mjs verify-bundle.js)

# The JS helpers must sit next to node_modules for require()/import to resolve: copy them when changed.
sync_npm_helpers() {
  local f
  mkdir -p "$NPM"
  for f in "${NPM_HELPERS[@]}"; do
    cmp -s "$SRC/$f" "$NPM/$f" 2>/dev/null || install -m 0644 "$SRC/$f" "$NPM/$f"
  done
}

install_npm() {
  local want
  want=$(stamp "$SRC/package.json" "$SRC/package-lock.json")
  sync_npm_helpers
  if [ "$(cat "$NPM/.sigward-stamp" 2>/dev/null)" = "$want" ] && [ -x "$NPM/node_modules/.bin/sigstore" ] \
     && [ -d "$NPM/node_modules/@sigstore/mock" ] && [ -d "$NPM/node_modules/oauth2-mock-server" ]; then
    log "npm packages (@sigstore/mock, oauth2-mock-server, sigstore-js, @sigstore/cli, @sigstore/oci): present"; return 0
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then die "node and npm are needed for the keyless peers"; fi
  local major; major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || die "node $(node --version) is too old: @sigstore/mock 0.12 and sigstore-js 4 need Node >= 20"
  log "npm install into $NPM (pinned by scripts/peers/package-lock.json)"
  local t0=$SECONDS
  rm -f "$NPM/.sigward-stamp"
  cp -f "$SRC/package.json" "$SRC/package-lock.json" "$NPM/"
  (cd "$NPM" && npm install --no-audit --no-fund --prefer-offline --no-update-notifier --loglevel=error >/dev/null) \
    || die "npm install failed in $NPM"
  (cd "$NPM" && node -e 'require("@sigstore/mock"); require("@sigstore/oci"); import("oauth2-mock-server")') \
    || die "npm packages in $NPM do not load"
  echo "$want" > "$NPM/.sigward-stamp"
  log "npm packages installed in $((SECONDS - t0)) s"
}

install_pip() {
  local want
  want=$(stamp "$SRC/requirements.txt")
  if [ "$(cat "$VENV/.sigward-stamp" 2>/dev/null)" = "$want" ] && [ -x "$VENV/bin/sigstore" ] \
     && "$VENV/bin/python" -c '' 2>/dev/null; then
    log "sigstore-python (venv $VENV): present"; return 0
  fi
  log "python venv $VENV + pip install sigstore==4.5.1 (pinned by scripts/peers/requirements.txt)"
  local t0=$SECONDS
  rm -f "$VENV/.sigward-stamp"
  # A venv whose interpreter is gone (python upgraded or moved) cannot be repaired by pip: make it anew.
  "$VENV/bin/python" -c '' 2>/dev/null || { rm -rf "$VENV"; python3 -m venv "$VENV" || die "python3 -m venv failed"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$SRC/requirements.txt" || die "pip install failed in $VENV"
  "$VENV/bin/sigstore" --version >/dev/null || die "$VENV/bin/sigstore does not run"
  echo "$want" > "$VENV/.sigward-stamp"
  log "sigstore-python $("$VENV/bin/sigstore" --version | awk '{print $2}') installed in $((SECONDS - t0)) s"
}

kube_apiserver_ok() { [ -x "$KUBE_APISERVER" ] && [ "$("$KUBE_APISERVER" --version 2>/dev/null)" = "Kubernetes $KUBE_VERSION" ]; }

# kube-apiserver from the Go module proxy: a module that requires k8s.io/kubernetes and replaces each of its
# staging modules (its go.mod says "k8s.io/x => ./staging/src/k8s.io/x") by the published k8s.io/x v0.<minor>.<patch>.
# The Go module and build caches are the machine's (go env GOMODCACHE GOCACHE): a rebuild in a fresh clone
# on the same machine takes seconds.
install_kube() {
  command -v etcd >/dev/null || die "etcd missing (apt etcd-server)"
  if kube_apiserver_ok; then log "kube-apiserver $KUBE_VERSION, $(etcd --version | sed -n 's/^etcd Version: /etcd /p'): present"; return 0; fi
  command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && PATH=/usr/local/go/bin:$PATH; } \
    || die "go missing: kube-apiserver $KUBE_VERSION is built with go >= 1.26"
  local gov; gov=$(GOTOOLCHAIN=local go env GOVERSION)
  if ! [[ $gov =~ ^go1\.([0-9]+) ]] || [ "${BASH_REMATCH[1]}" -lt 26 ]; then
    die "$gov is too old: kube-apiserver $KUBE_VERSION needs go >= 1.26"
  fi
  local t0=$SECONDS staging=v0.${KUBE_VERSION#v1.} minor
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  log "kube-apiserver $KUBE_VERSION: go build from the Go module proxy ($gov; about 6 min and 1.9 GB RAM on 2 cores when the Go caches are cold)"
  rm -rf "$KUBE_SRC"; mkdir -p "$KUBE_SRC" "$BIN"
  (
    cd "$KUBE_SRC"
    # GOTOOLCHAIN=local: never fetch another Go; -buildvcs=false: this dir may sit inside the sigward checkout.
    export GOTOOLCHAIN=local GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=0 GOWORK=off
    go mod init sigward.invalid/peers/kube-apiserver 2>/dev/null
    go mod edit -go=1.26.0 -require="k8s.io/kubernetes@$KUBE_VERSION" -tool=k8s.io/kubernetes/cmd/kube-apiserver
    local gomod m
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
    [ -s "$gomod" ] || die "go mod download k8s.io/kubernetes@$KUBE_VERSION failed"
    sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$gomod" | while read -r m; do
      go mod edit -replace="$m=$m@$staging"
    done
    grep -q "k8s.io/apiserver => k8s.io/apiserver $staging" go.mod || die "no staging replace directives found in $gomod"
    go mod tidy >/dev/null 2>"$KUBE_SRC/tidy.log" || { tail -20 "$KUBE_SRC/tidy.log" >&2; die "go mod tidy failed in $KUBE_SRC"; }
    local v=k8s.io/component-base/version
    nice -n 10 go build -trimpath -o "$KUBE_APISERVER.tmp" -ldflags "-s -w -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 \
      -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z" k8s.io/kubernetes/cmd/kube-apiserver \
      || die "go build k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION failed"
  )
  mv -f "$KUBE_APISERVER.tmp" "$KUBE_APISERVER"
  kube_apiserver_ok || die "$KUBE_APISERVER --version does not say Kubernetes $KUBE_VERSION"
  log "kube-apiserver $KUBE_VERSION built in $((SECONDS - t0)) s ($(du -m "$KUBE_APISERVER" | cut -f1) MB)"
}

cmd_install() {
  local t0=$SECONDS
  mkdir -p "$DIR" "$BIN" "$RUN"
  install_apt
  install_trixie
  install_ferro
  install_mkoci
  install_npm
  install_pip
  install_kube
  log "install done in $((SECONDS - t0)) s (dir $DIR)"
}

# ------------------------------------------------------------------------------ process handling
pidfile() { echo "$RUN/$1.pid"; }

# running NAME: the pid in NAME's pid file is alive and is still the program we started.
running() {
  local pf pid want
  pf=$(pidfile "$1"); [ -f "$pf" ] || return 1
  pid=$(cat "$pf" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  want=$(cat "$RUN/$1.exe" 2>/dev/null) || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want"
}

# http_code URL [curl args]: prints the HTTP status, 000 when nothing answers.
http_code() {
  local url=$1; shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" 2>/dev/null || true
}

answers() { local c; c=$(http_code "$@"); [ -n "$c" ] && [ "$c" != 000 ]; }

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive PID: the process exists and has not exited. An exited peer stays a zombie until its parent (PID 1 here:
# peers are started detached) reaps it, which can take 2 s; it holds no port any more, so it counts as gone.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]
}

stop_one() {
  local name=$1 pf pid
  pf=$(pidfile "$name")
  if ! running "$name"; then
    [ -f "$pf" ] && log "$name: not running (stale pid file removed)"
  else
    pid=$(cat "$pf")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$pf"
}

# start_one NAME PORT URL CURLARGS... -- ENV=VAL... CMD ARGS...
#   CMD runs in its own session with stdin from /dev/null, output to $RUN/NAME.log. It writes its own pid
#   (the shell's $$ survives exec), so the pid file is right whether or not setsid had to fork.
start_one() {
  local name=$1 port=$2 url=$3; shift 3
  local curl_args=()
  while [ "$1" != -- ]; do curl_args+=("$1"); shift; done; shift
  local pf logf; pf=$(pidfile "$name"); logf=$RUN/$name.log
  if running "$name"; then
    if [ "$(cat "$RUN/$name.port" 2>/dev/null)" = "$port" ] && answers "$url" "${curl_args[@]}"; then
      log "$name: already running on 127.0.0.1:$port (pid $(cat "$pf"))"; return 0
    fi
    log "$name: pid $(cat "$pf") runs but does not answer on $port: restarting it"
    stop_one "$name"
  fi
  rm -f "$pf"
  if port_open "$port"; then
    die "$name: 127.0.0.1:$port is in use by a process this peers dir did not start (set SIGWARD_REGISTRY_*_PORT, SIGWARD_SIGSTORE_PORT, SIGWARD_OIDC_PORT, SIGWARD_KUBE_PORT, SIGWARD_KUBE_ETCD_PORT)"
  fi
  local data=$RUN/$name/data
  rm -rf "$data"; mkdir -p "$data"
  "${name}_config" "$port" "$data"
  echo "$port" > "$RUN/$name.port"
  # What /proc/PID/cmdline must contain for the pid to count as ours: PEER_MARK if the caller set it (the
  # script of a node peer), else the last argument (the config file of a registry, the binary of ferro),
  # so a reused pid is never mistaken for a peer.
  echo "${PEER_MARK:-${*: -1}}" > "$RUN/$name.exe"
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner sh
  setsid sh -c 'echo $$ > "$0"; exec env "$@"' "$pf" "$@" > "$logf" 2>&1 < /dev/null &
  local deadline=$((SECONDS + START_TIMEOUT)) pid=""
  while :; do
    [ -z "$pid" ] && [ -s "$pf" ] && pid=$(cat "$pf")
    if [ -n "$pid" ] && answers "$url" "${curl_args[@]}"; then break; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pf"; die "$name exited during startup; last lines of $logf:
$(tail -n 15 "$logf")"
    fi
    if [ $SECONDS -ge $deadline ]; then
      [ -n "$pid" ] && stop_one "$name"
      die "$name did not answer $url within ${START_TIMEOUT}s; last lines of $logf:
$(tail -n 15 "$logf")"
    fi
    sleep 0.05
  done
  log "$name: started on 127.0.0.1:$port (pid $pid, log $logf)"
}

# ------------------------------------------------------------------------------------- start
ensure_pki() {
  mkdir -p "$PKI"
  if [ ! -s "$PKI/server.crt" ] || ! openssl verify -CAfile "$PKI/ca.crt" "$PKI/server.crt" >/dev/null 2>&1; then
    log "pki: new CA + server certificate (DNS:localhost, IP:127.0.0.1) in $PKI"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" \
      -days 3650 -subj '/CN=sigward test CA' \
      -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$PKI/server.key" -out "$PKI/server.csr" \
      -subj '/CN=localhost' 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
      > "$PKI/server.ext"
    openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -out "$PKI/server.crt" \
      -days 825 -extfile "$PKI/server.ext" 2>/dev/null
    chmod 0600 "$PKI/ca.key" "$PKI/server.key"
  fi
  if [ ! -s "$PKI/htpasswd" ] || ! htpasswd -vb "$PKI/htpasswd" "$REG_USER" "$REG_PASSWORD" >/dev/null 2>&1; then
    htpasswd -Bbc "$PKI/htpasswd" "$REG_USER" "$REG_PASSWORD" 2>/dev/null
  fi
}

# Client-side files for skopeo/cosign/docker-style tools.
write_client_files() {
  local h
  for h in "127.0.0.1:$TLS_PORT" "localhost:$TLS_PORT"; do
    mkdir -p "$DIR/certs.d/$h"; cp -f "$PKI/ca.crt" "$DIR/certs.d/$h/ca.crt"
  done
  mkdir -p "$DIR/skopeo/registries.d" "$DIR/docker-config"
  printf 'default-docker:\n  use-sigstore-attachments: true\n' > "$DIR/skopeo/registries.d/default.yaml"
  # The trixie skopeo has no /etc/containers/policy.json: a copy without --policy fails.
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' > "$DIR/skopeo/policy-accept.json"
  local auth; auth=$(printf '%s:%s' "$REG_USER" "$REG_PASSWORD" | base64 -w0)
  printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"},"localhost:%s":{"auth":"%s"},"127.0.0.1:%s":{"auth":"%s"},"localhost:%s":{"auth":"%s"}}}\n' \
    "$TLS_PORT" "$auth" "$TLS_PORT" "$auth" "$HTTP_AUTH_PORT" "$auth" "$HTTP_AUTH_PORT" "$auth" > "$DIR/docker-config/config.json"
  chmod 0600 "$DIR/docker-config/config.json"
  mkdir -p "$DIR/tuf"
}

registry-tls_config() {
  cat > "$RUN/registry-tls/config.yml" <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $2}, delete: {enabled: true}}
http:
  addr: 127.0.0.1:$1
  secret: sigward-peers-not-a-secret
  tls: {certificate: $PKI/server.crt, key: $PKI/server.key}
auth: {htpasswd: {realm: sigward-test, path: $PKI/htpasswd}}
YAML
}

registry-http_config() {
  cat > "$RUN/registry-http/config.yml" <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $2}, delete: {enabled: true}}
http:
  addr: 127.0.0.1:$1
  secret: sigward-peers-not-a-secret
YAML
}

registry-http-auth_config() {
  cat > "$RUN/registry-http-auth/config.yml" <<YAML
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $2}, delete: {enabled: true}}
http:
  addr: 127.0.0.1:$1
  secret: sigward-peers-not-a-secret
auth: {htpasswd: {realm: sigward-test, path: $PKI/htpasswd}}
YAML
}

ferro_config() { :; }   # configured through the environment (see start_one call)

# The node peers keep nothing in a data dir. A (re)started sigstore peer has new keys: drop the old trust
# files first, so that nothing can read files that belong to no running server.
sigstore_config() {
  rmdir "$2" 2>/dev/null || true   # $2 = $SIGSTORE_OUT/data
  rm -f "$SIGSTORE_OUT"/{trusted_root.json,trust_config.json,fulcio-root.pem,rekor.pub,ctlog.pub,tsa-chain.pem,ready}
}
oidc_config() { rmdir "$2" "$(dirname "$2")" 2>/dev/null || true; }

# The OIDC issuer that the running oidc peer puts in its tokens (read from its discovery document at start).
oidc_issuer() { cat "$RUN/oidc.issuer" 2>/dev/null || echo "http://localhost:$OIDC_PORT"; }

start_oidc() {
  sync_npm_helpers
  PEER_MARK=$NPM/oidc-server.mjs start_one oidc "$OIDC_PORT" "http://127.0.0.1:$OIDC_PORT/.well-known/openid-configuration" -- \
    OIDC_DEFAULT_SUBJECT="$DEFAULT_SUBJECT" "$(command -v node)" "$NPM/oidc-server.mjs" "$OIDC_PORT"
  local issuer
  issuer=$(curl -sf --max-time 5 "http://127.0.0.1:$OIDC_PORT/.well-known/openid-configuration" \
           | sed -n 's/^{"issuer":"\([^"]*\)".*/\1/p') || true
  [ -n "$issuer" ] || die "oidc: no issuer in http://127.0.0.1:$OIDC_PORT/.well-known/openid-configuration"
  echo "$issuer" | write_if_changed "$RUN/oidc.issuer" 0644
}

# sigstore_files_match: the trust files on disk belong to the sigstore peer that answers on its port.
sigstore_files_match() {
  local f
  for f in trusted_root.json fulcio-root.pem rekor.pub ctlog.pub tsa-chain.pem; do [ -s "$SIGSTORE_OUT/$f" ] || return 1; done
  # The server answers GET /trusted_root.json with the bytes it wrote (scripts/peers/sigstore-mock-server.js).
  curl -sf --max-time 5 "http://127.0.0.1:$SIGSTORE_PORT/trusted_root.json" 2>/dev/null | cmp -s - "$SIGSTORE_OUT/trusted_root.json"
}

start_sigstore_server() {
  PEER_MARK=$NPM/sigstore-mock-server.js start_one sigstore "$SIGSTORE_PORT" "http://127.0.0.1:$SIGSTORE_PORT/healthz" -- \
    "$(command -v node)" "$NPM/sigstore-mock-server.js" --host 127.0.0.1 --port "$SIGSTORE_PORT" --out "$SIGSTORE_OUT"
}

start_sigstore() {
  sync_npm_helpers
  mkdir -p "$SIGSTORE_OUT"
  start_sigstore_server
  # A server that still runs keeps its files; files that are not its own (deleted, or overwritten by another
  # server) would make every signature fail to verify, so such a server is restarted (new keys, new files).
  if ! sigstore_files_match; then
    log "sigstore: the trust files in $SIGSTORE_OUT are not those of the running server: restarting it"
    stop_one sigstore
    start_sigstore_server
    sigstore_files_match || die "sigstore: the trust files in $SIGSTORE_OUT do not match the server just started"
  fi
  local tc=$SIGSTORE_OUT/trust_config.json
  if [ ! -s "$tc" ] || [ "$SIGSTORE_OUT/trusted_root.json" -nt "$tc" ] || [ "$RUN/oidc.issuer" -nt "$tc" ] \
     || [ "$SRC/mk-trust-config.py" -nt "$tc" ]; then
    "$PY" "$SRC/mk-trust-config.py" "$SIGSTORE_OUT/trusted_root.json" "http://127.0.0.1:$SIGSTORE_PORT" "$(oidc_issuer)" > "$tc.tmp" \
      || die "sigstore: mk-trust-config.py failed"
    mv -f "$tc.tmp" "$tc"
  fi
}

# ------------------------------------------------------------------------------------------- kube
# Serving certificate (signed by the peers' CA $PKI/ca.crt), service-account key pair, static token file.
# Sets KUBE_PKI_NEW=1 when it made new files (a running API server then restarts to load them).
ensure_kube_pki() {
  KUBE_PKI_NEW=0
  mkdir -p "$KUBE"
  if [ ! -s "$KUBE/apiserver.crt" ] || ! openssl verify -CAfile "$PKI/ca.crt" "$KUBE/apiserver.crt" >/dev/null 2>&1; then
    log "kube: new API server certificate (DNS:localhost, kubernetes.default.svc, IP:127.0.0.1) in $KUBE"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$KUBE/apiserver.key" \
      -out "$KUBE/apiserver.csr" -subj '/CN=kube-apiserver' 2>/dev/null
    printf '%s\n' 'subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1' \
      'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' > "$KUBE/apiserver.ext"
    openssl x509 -req -in "$KUBE/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
      -out "$KUBE/apiserver.crt" -days 825 -extfile "$KUBE/apiserver.ext" 2>/dev/null
    rm -f "$KUBE/apiserver.csr" "$KUBE/apiserver.ext"
    chmod 0600 "$KUBE/apiserver.key"
    KUBE_PKI_NEW=1
  fi
  if [ ! -s "$KUBE/sa.pub" ] || ! openssl pkey -in "$KUBE/sa.key" -pubout 2>/dev/null | cmp -s - "$KUBE/sa.pub"; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KUBE/sa.key" 2>/dev/null
    chmod 0600 "$KUBE/sa.key"
    openssl pkey -in "$KUBE/sa.key" -pubout -out "$KUBE/sa.pub"
    KUBE_PKI_NEW=1
  fi
  local tokens
  tokens=$(printf '%s,%s,%s,"system:masters"' "$KUBE_TOKEN" "$KUBE_USER" "$KUBE_USER")
  if [ "$(cat "$KUBE/tokens.csv" 2>/dev/null)" != "$tokens" ]; then
    echo "$tokens" > "$KUBE/tokens.csv"; chmod 0600 "$KUBE/tokens.csv"; KUBE_PKI_NEW=1
  fi
}

write_kubeconfig() {
  write_if_changed "$KUBE/kubeconfig" 0600 <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sigward-test
  cluster:
    server: https://127.0.0.1:$KUBE_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $KUBE_USER
  user:
    token: $KUBE_TOKEN
contexts:
- name: sigward-test
  context: {cluster: sigward-test, user: $KUBE_USER}
current-context: sigward-test
EOF
}

kube-etcd_config() { :; }   # everything is on the command line; $2 (its data dir) is new and empty
kube-apiserver_config() { rmdir "$2" "$(dirname "$2")" 2>/dev/null || true; }

start_kube() {
  ensure_kube_pki
  local etcd_was_running=0 peer_port=$((KUBE_ETCD_PORT + 1)) data=$RUN/kube-etcd/data
  running kube-etcd && etcd_was_running=1
  PEER_MARK=$data start_one kube-etcd "$KUBE_ETCD_PORT" "http://127.0.0.1:$KUBE_ETCD_PORT/health" -- \
    "$(command -v etcd)" --name sigward-kube --data-dir "$data" --logger zap --log-level warn \
    --listen-client-urls "http://127.0.0.1:$KUBE_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$KUBE_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "sigward-kube=http://127.0.0.1:$peer_port"
  # An API server whose etcd was (re)started (empty) or whose certificate or keys changed starts anew.
  if running kube-apiserver && { [ $etcd_was_running = 0 ] || [ "$KUBE_PKI_NEW" = 1 ]; }; then
    log "kube-apiserver: etcd or its certificates are new: restarting it"
    stop_one kube-apiserver
  fi
  local url=https://127.0.0.1:$KUBE_PORT/readyz
  # No kubelet, scheduler or controller manager: objects are stored, nothing runs. The endpoint reconciler is
  # off: the Endpoints of the "kubernetes" Service cannot hold 127.0.0.1 (it would log an error every 10 s).
  START_TIMEOUT=$KUBE_START_TIMEOUT PEER_MARK=$KUBE_APISERVER start_one kube-apiserver "$KUBE_PORT" "$url" --cacert "$PKI/ca.crt" -- \
    "$KUBE_APISERVER" --etcd-servers="http://127.0.0.1:$KUBE_ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$KUBE_PORT" \
    --tls-cert-file="$KUBE/apiserver.crt" --tls-private-key-file="$KUBE/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --token-auth-file="$KUBE/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-key-file="$KUBE/sa.pub" --service-account-signing-key-file="$KUBE/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none --profiling=false
  # start_one returns at the first HTTP answer; the API server is usable once /readyz says 200.
  local deadline=$((SECONDS + KUBE_START_TIMEOUT))
  until [ "$(http_code "$url" --cacert "$PKI/ca.crt")" = 200 ]; do
    if ! running kube-apiserver || [ $SECONDS -ge $deadline ]; then
      local why; why=$(curl -s --max-time 2 --cacert "$PKI/ca.crt" "$url?verbose" 2>&1 | grep -v '\[+\]' || true)
      running kube-apiserver && stop_one kube-apiserver
      die "kube-apiserver not ready within ${KUBE_START_TIMEOUT}s: $why
last lines of $RUN/kube-apiserver.log:
$(tail -n 15 "$RUN/kube-apiserver.log")"
    fi
    sleep 0.1
  done
  write_kubeconfig
}

write_env() {
  write_if_changed "$DIR/env" 0644 <<EOF
# Written by scripts/peers.sh start: peers for sigward's integration tests (all on 127.0.0.1).
# Usage: . $DIR/env
export SIGWARD_PEERS_DIR='$DIR'
# distribution 2.8, TLS (cert SANs: localhost, 127.0.0.1; CA below) + basic auth, delete enabled, no referrers API
export SIGWARD_TEST_REGISTRY_TLS='127.0.0.1:$TLS_PORT'
export SIGWARD_TEST_REGISTRY_CA='$PKI/ca.crt'
export SIGWARD_TEST_REGISTRY_USER='$REG_USER'
export SIGWARD_TEST_REGISTRY_PASSWORD='$REG_PASSWORD'
# distribution 2.8, plain HTTP, no auth, no referrers API
export SIGWARD_TEST_REGISTRY_HTTP='127.0.0.1:$HTTP_PORT'
# distribution 2.8, plain HTTP + basic auth (same user/password as the TLS one), no referrers API. The one registry
# @sigstore/oci (sigstore-js "attach") can use: it speaks plain http to 127.0.0.1/localhost and fails without a
# 401 challenge ("Invalid challenge").
export SIGWARD_TEST_REGISTRY_HTTP_AUTH='127.0.0.1:$HTTP_AUTH_PORT'
# ferro-oci-server $FERRO_VERSION, plain HTTP, no auth, OCI 1.1 referrers API (tags/manifests kept in memory)
export SIGWARD_TEST_REGISTRY_FERRO='127.0.0.1:$FERRO_PORT'
# tools: cosign 2.5, skopeo 1.18 (Debian 13), mkoci DIR [TAG] [CONTENT] -> prints manifest digest
export SIGWARD_TEST_COSIGN='$BIN/cosign'
export SIGWARD_TEST_SKOPEO='$BIN/skopeo'
export SIGWARD_TEST_MKOCI='$BIN/mkoci'
# skopeo: global --registries.d (use-sigstore-attachments: true) and --policy (accept anything; the trixie
# skopeo has no /etc/containers/policy.json); --src-cert-dir/--dest-cert-dir for the TLS registry.
export SIGWARD_TEST_SKOPEO_REGISTRIES_D='$DIR/skopeo/registries.d'
export SIGWARD_TEST_SKOPEO_POLICY='$DIR/skopeo/policy-accept.json'
export SIGWARD_TEST_SKOPEO_CERT_DIR='$DIR/certs.d/127.0.0.1:$TLS_PORT'
# Credentials: nothing here depends on ~/.docker/config.json. Pass them explicitly (cosign
# --registry-username/--registry-password, skopeo --src-creds/--dest-creds), or point a tool at this
# ready-made docker config dir (DOCKER_CONFIG=...) for the TLS and the http-auth registry under both host names.
export SIGWARD_TEST_DOCKER_CONFIG='$DIR/docker-config'
# cosign stays offline in key mode only with these flags (checked: no outbound connection at all):
#   sign/attest/sign-blob:           --tlog-upload=false (and -y)
#   verify/verify-attestation/-blob: --insecure-ignore-tlog
# Without them cosign goes to rekor.sigstore.dev or tuf-repo-cdn.sigstore.dev, whatever SIGSTORE_*
# variables say. TUF_ROOT keeps any TUF cache cosign might write here instead of in ~/.sigstore.
# TLS registry: --registry-cacert \$SIGWARD_TEST_REGISTRY_CA (or SSL_CERT_FILE=... for that command only).
export TUF_ROOT='$DIR/tuf'
# --- keyless Sigstore peers ---
# One server: Fulcio v1 (POST /api/v1/signingCert) + v2, Rekor v1 (POST /api/v1/log/entries) + v2, RFC3161 TSA
# (POST /api/v1/timestamp, DER or JSON) from @sigstore/mock 0.12.1. The OIDC token is decoded, NOT verified; an
# email-like sub gives an email SAN. No GET of log entries: verify offline. NEW KEYS AT EVERY START of this peer:
# read the trust files below after each start, never cache them.
export SIGWARD_TEST_SIGSTORE_URL='http://127.0.0.1:$SIGSTORE_PORT'
# OIDC provider (oauth2-mock-server 8.2.3): listens on 127.0.0.1; tokens carry iss = SIGWARD_TEST_OIDC_ISSUER.
# ID token: "\$SIGWARD_TEST_PEERS_SCRIPT" id-token [EMAIL]  (default $DEFAULT_SUBJECT; aud "sigstore")
export SIGWARD_TEST_OIDC_URL='http://localhost:$OIDC_PORT'
export SIGWARD_TEST_OIDC_ISSUER='$(oidc_issuer)'
export SIGWARD_TEST_OIDC_SUBJECT='$DEFAULT_SUBJECT'
export SIGWARD_TEST_PEERS_SCRIPT='$REPO/scripts/peers.sh'
# Trust material of the running sigstore peer: TrustedRoot JSON, ClientTrustConfig JSON (sigstore-python
# --trust-config), Fulcio root CA (the whole chain: leaf certs have no intermediate), Rekor and CT log keys
# (PKIX PEM), TSA chain (intermediate, then root).
export SIGWARD_TEST_TRUSTED_ROOT='$SIGSTORE_OUT/trusted_root.json'
export SIGWARD_TEST_TRUST_CONFIG='$SIGSTORE_OUT/trust_config.json'
export SIGWARD_TEST_FULCIO_ROOT='$SIGSTORE_OUT/fulcio-root.pem'
export SIGWARD_TEST_REKOR_PUB='$SIGSTORE_OUT/rekor.pub'
export SIGWARD_TEST_CTLOG_PUB='$SIGSTORE_OUT/ctlog.pub'
export SIGWARD_TEST_TSA_CHAIN='$SIGSTORE_OUT/tsa-chain.pem'
# cosign keyless, offline: set for the cosign command only (not exported here, key-mode tests stay as they are)
#   SIGSTORE_ROOT_FILE=\$SIGWARD_TEST_FULCIO_ROOT SIGSTORE_REKOR_PUBLIC_KEY=\$SIGWARD_TEST_REKOR_PUB
#   SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=\$SIGWARD_TEST_CTLOG_PUB
#   sign:   -y --fulcio-url \$SIGWARD_TEST_SIGSTORE_URL --rekor-url \$SIGWARD_TEST_SIGSTORE_URL --identity-token TOKEN
#   verify: --certificate-identity EMAIL --certificate-oidc-issuer \$SIGWARD_TEST_OIDC_ISSUER
# sigstore-python 4.5.1: \$SIGWARD_TEST_SIGSTORE_PYTHON --trust-config \$SIGWARD_TEST_TRUST_CONFIG sign|verify ...
#   (verify with --offline). sigstore-js: CI=true SIGSTORE_ID_TOKEN=TOKEN \$SIGWARD_TEST_SIGSTORE_JS attest ...
#   --fulcio-url/--rekor-url/--tsa-server-url \$SIGWARD_TEST_SIGSTORE_URL (CI=true: no browser flow).
#   Offline sigstore-js verification against the trusted root:
#   node \$SIGWARD_TEST_NODE_DIR/verify-bundle.js TRUSTED_ROOT BUNDLE [ARTIFACT] [SAN] [ISSUER]
export SIGWARD_TEST_SIGSTORE_PYTHON='$VENV/bin/sigstore'
export SIGWARD_TEST_SIGSTORE_JS='$NPM/node_modules/.bin/sigstore'
export SIGWARD_TEST_NODE_DIR='$NPM'
# --- Kubernetes (peer "kube") ---
# kube-apiserver $KUBE_VERSION built from its Go modules, on etcd $(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p'). No kubelet, scheduler or controllers:
# objects are stored and admission runs (ValidatingAdmissionWebhook, MutatingAdmissionWebhook on), nothing is scheduled.
# A (re)started kube peer has an empty etcd. TLS: serving cert signed by SIGWARD_TEST_KUBE_CA (the peers' CA, also
# SIGWARD_TEST_REGISTRY_CA), SANs localhost, 127.0.0.1, kubernetes.default.svc. Auth: bearer token of user
# $KUBE_USER in group system:masters (RBAC). A webhook for it: clientConfig.url https://127.0.0.1:PORT/validate
# + caBundle (base64 of the CA of the webhook's cert); the API server calls it from 127.0.0.1. Pods: no controller
# makes a namespace's ServiceAccount "default", which the ServiceAccount admission plugin needs: create it first
# (kubectl -n NS create serviceaccount default). Deployments and other workloads need nothing.
# kubectl: kubectl --kubeconfig \$SIGWARD_TEST_KUBECONFIG ... (/usr/bin/kubectl here is 1.32: it warns about the skew)
export SIGWARD_TEST_KUBECONFIG='$KUBE/kubeconfig'
export SIGWARD_TEST_KUBE_URL='https://127.0.0.1:$KUBE_PORT'
export SIGWARD_TEST_KUBE_TOKEN='$KUBE_TOKEN'
export SIGWARD_TEST_KUBE_CA='$PKI/ca.crt'
EOF
}

# ------------------------------------------------------------------------ start/stop/status/env
NAMES=(registry-tls registry-http registry-http-auth ferro oidc sigstore kube)   # start order (oidc before sigstore: its issuer goes in trust_config.json)

# procs NAME: the processes (pid files) of a peer, in start order.
procs() { if [ "$1" = kube ]; then echo kube-etcd kube-apiserver; else echo "$1"; fi; }

check_names() {
  local n a ok
  for a in "$@"; do
    ok=0; for n in "${NAMES[@]}"; do [ "$a" = "$n" ] && ok=1; done
    [ $ok = 1 ] || die "unknown peer '$a' (peers: ${NAMES[*]})"
  done
}

# selected NAME...: the canonical names to act on, in start order (all without arguments). Call
# check_names first: this runs in a subshell, where die would not end the script.
selected() {
  local n a
  for n in "${NAMES[@]}"; do
    if [ $# -eq 0 ]; then echo "$n"; else for a in "$@"; do [ "$a" = "$n" ] && { echo "$n"; break; }; done; fi
  done
}

cmd_start() {
  local t0=$SECONDS names n c
  check_names "$@"
  mapfile -t names < <(selected "$@")
  for c in curl openssl python3; do command -v "$c" >/dev/null || die "$c missing: run $0 install"; done
  for n in "${names[@]}"; do
    case $n in
      registry-*) if ! command -v docker-registry >/dev/null || ! command -v htpasswd >/dev/null; then
                    die "docker-registry/htpasswd missing: run $0 install"; fi ;;
      ferro) [ -x "$FERRO" ] || die "$FERRO missing: run $0 install" ;;
      oidc|sigstore) if ! command -v node >/dev/null || [ ! -d "$NPM/node_modules/@sigstore/mock" ] \
                        || [ ! -d "$NPM/node_modules/oauth2-mock-server" ]; then
                       die "node or $NPM/node_modules missing: run $0 install"; fi ;;
      kube) command -v etcd >/dev/null || die "etcd missing: run $0 install"
            kube_apiserver_ok || die "$KUBE_APISERVER ($KUBE_VERSION) missing: run $0 install" ;;
    esac
  done
  mkdir -p "$RUN/registry-tls" "$RUN/registry-http" "$RUN/registry-http-auth" "$RUN/ferro"
  ensure_pki
  write_client_files
  for n in "${names[@]}"; do
    case $n in
      registry-tls) start_one registry-tls "$TLS_PORT" "https://127.0.0.1:$TLS_PORT/v2/" --cacert "$PKI/ca.crt" -- \
                      "$(command -v docker-registry)" serve "$RUN/registry-tls/config.yml" ;;
      registry-http) start_one registry-http "$HTTP_PORT" "http://127.0.0.1:$HTTP_PORT/v2/" -- \
                       "$(command -v docker-registry)" serve "$RUN/registry-http/config.yml" ;;
      registry-http-auth) start_one registry-http-auth "$HTTP_AUTH_PORT" "http://127.0.0.1:$HTTP_AUTH_PORT/v2/" -- \
                            "$(command -v docker-registry)" serve "$RUN/registry-http-auth/config.yml" ;;
      ferro) start_one ferro "$FERRO_PORT" "http://127.0.0.1:$FERRO_PORT/v2/" -- \
               FERRO_OCI_LISTEN="127.0.0.1:$FERRO_PORT" FERRO_OCI_STORAGE_DIR="$RUN/ferro/data" RUST_LOG=warn "$FERRO" ;;
      oidc) start_oidc ;;
      sigstore) start_sigstore ;;
      kube) start_kube ;;
    esac
  done
  write_env
  log "ready in $((SECONDS - t0)) s; env file: $DIR/env"
}

cmd_stop() {
  local names i
  check_names "$@"
  mapfile -t names < <(selected "$@")
  local p ps
  for ((i = ${#names[@]} - 1; i >= 0; i--)); do
    read -r -a ps <<< "$(procs "${names[i]}")"
    for ((p = ${#ps[@]} - 1; p >= 0; p--)); do stop_one "${ps[p]}"; done
  done
}

# health_url NAME PORT: what status asks each peer.
health_url() {
  case $1 in
    registry-tls) echo "https://127.0.0.1:$2/v2/" ;;
    registry-http|registry-http-auth|ferro) echo "http://127.0.0.1:$2/v2/" ;;
    sigstore) echo "http://127.0.0.1:$2/healthz" ;;
    oidc) echo "http://127.0.0.1:$2/.well-known/openid-configuration" ;;
    kube-etcd) echo "http://127.0.0.1:$2/health" ;;
    kube-apiserver) echo "https://127.0.0.1:$2/readyz" ;;
  esac
}

cmd_status() {
  local n port all
  all=$(for p in "${NAMES[@]}"; do procs "$p"; done)
  for n in $all; do
    port=$(cat "$RUN/$n.port" 2>/dev/null || echo '?')
    if running "$n"; then
      printf '%-18s running  pid %-8s 127.0.0.1:%-6s HTTP %s  log %s\n' "$n" "$(cat "$(pidfile "$n")")" "$port" \
        "$(http_code "$(health_url "$n" "$port")" --cacert "$PKI/ca.crt")" "$RUN/$n.log"
    else
      printf '%-18s stopped\n' "$n"
    fi
  done
  running sigstore && echo "sigstore trust files: $SIGSTORE_OUT"
  [ -f "$DIR/env" ] && echo "env file: $DIR/env"
  return 0
}

cmd_env() {
  [ -f "$DIR/env" ] || die "no $DIR/env yet: run $0 start"
  cat "$DIR/env"
}

cmd_id_token() {
  local email=${1:-$DEFAULT_SUBJECT} port out
  running oidc || die "the oidc peer is not running (peers dir $DIR): run $0 start"
  port=$(cat "$RUN/oidc.port")
  out=$(curl -sS -f --max-time 10 "http://127.0.0.1:$port/token" -d grant_type=password --data-urlencode "username=$email" \
          -d password=x -d client_id=sigstore -d scope=openid) || die "oidc: token request to 127.0.0.1:$port failed"
  printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id_token"])' || die "oidc: no id_token in: $out"
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  restart) shift; cmd_stop "$@"; cmd_start "$@" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  id-token) shift; [ $# -le 1 ] || die "usage: $0 id-token [EMAIL]"; cmd_id_token "$@" ;;
  *) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 2 ;;
esac
