#!/usr/bin/env python3
"""A TUF repository serving one target, trusted_root.json, for sigward's TUF refresh tests.

usage: mk-tuf-repo.py OUT_DIR TRUSTED_ROOT_JSON [--expire-days N]

Writes, with python-tuf's metadata API (the TUF reference implementation) and one Ed25519 key
for every role, the consistent-snapshot layout Sigstore's repositories use:
  OUT/1.root.json, OUT/root.json, OUT/1.targets.json, OUT/1.snapshot.json, OUT/timestamp.json,
  OUT/targets/<sha256>.trusted_root.json
Serve OUT over HTTP (e.g. `python3 -m http.server --bind 127.0.0.1`) and bootstrap a client
with OUT/1.root.json.
"""
import hashlib
import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import MetaFile, Metadata, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

out, trusted_root = sys.argv[1], sys.argv[2]
days = int(sys.argv[sys.argv.index("--expire-days") + 1]) if "--expire-days" in sys.argv else 30
expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=days)
os.makedirs(os.path.join(out, "targets"), exist_ok=True)

signer = CryptoSigner.generate_ed25519()
root = Root(expires=expires, consistent_snapshot=True)
for role in ("root", "targets", "snapshot", "timestamp"):
    root.add_key(signer.public_key, role)

data = open(trusted_root, "rb").read()
targets = Targets(expires=expires)
targets.targets["trusted_root.json"] = TargetFile.from_data("trusted_root.json", data, ["sha256"])
with open(os.path.join(out, "targets", hashlib.sha256(data).hexdigest() + ".trusted_root.json"), "wb") as f:
    f.write(data)

snapshot = Snapshot(expires=expires)
snapshot.meta["targets.json"] = MetaFile(version=targets.version)
timestamp = Timestamp(expires=expires)
timestamp.snapshot_meta = MetaFile(version=snapshot.version)

serializer = JSONSerializer(compact=False)
for signed, name in ((root, "1.root.json"), (targets, "1.targets.json"), (snapshot, "1.snapshot.json"), (timestamp, "timestamp.json")):
    md = Metadata(signed)
    md.sign(signer)
    md.to_file(os.path.join(out, name), serializer)
    if name == "1.root.json":
        md.to_file(os.path.join(out, "root.json"), serializer)
print(out)
