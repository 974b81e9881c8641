#!/usr/bin/env python3
# Copied from the shared peer recipes (shared/peers/test-peers.sh, embedded "mk-trust-config.py"; findings in
# shared/peers/README.md section 4). Test infrastructure data: scripts/peers.sh runs it after starting the "sigstore"
# peer to write $SIGWARD_PEERS_DIR/run/sigstore/trust_config.json for sigstore-python (--trust-config). Stdlib only.
"""ClientTrustConfig (trusted root + signing config v0.2) for the local mock stack, for `sigstore --trust-config`.
usage: mk-trust-config.py trusted_root.json BASE_URL [OIDC_URL] > trust_config.json"""
import json, sys
tr = json.load(open(sys.argv[1])); base = sys.argv[2].rstrip("/")
oidc = sys.argv[3] if len(sys.argv) > 3 else base
start = tr["tlogs"][0]["publicKey"]["validFor"]["start"]
svc = lambda url, v: {"url": url, "majorApiVersion": v, "validFor": {"start": start}, "operator": "local"}
print(json.dumps({"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json", "trustedRoot": tr,
  "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
    "caUrls": [svc(base, 1)], "oidcUrls": [svc(oidc, 1)], "rekorTlogUrls": [svc(base, 1)],
    "tsaUrls": [svc(base + "/api/v1/timestamp", 1)],
    "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}}}, indent=1))
