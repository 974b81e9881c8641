#!/usr/bin/env node
// Copied from the shared peer recipes (shared/peers/test-peers.sh, embedded "sigstore-mock-server.js"; findings in
// shared/peers/README.md section 5). Test infrastructure data: scripts/peers.sh copies it into $SIGWARD_PEERS_DIR/npm
// (next to node_modules, so that require() resolves) and runs it as the "sigstore" peer. Changes from the shared copy
// are marked "sigward change".
// Local Fulcio + Rekor + TSA on loopback from @sigstore/mock's handler functions (sigstore-js's own test doubles:
// real X.509 CA with embedded SCTs, signed SETs + checkpoints, RFC3161 timestamps). Fresh keys on every start.
//   node sigstore-mock-server.js --port 8300 [--host 127.0.0.1] [--out DIR] [--san-type auto|uri] [--subject-claim sub]
// Writes DIR/{trusted_root.json,fulcio-root.pem,rekor.pub,ctlog.pub,tsa-chain.pem} and DIR/ready once listening.
// Routes: POST /api/v2/signingCert (Fulcio v2; token in body or Authorization: Bearer; publicKeyRequest or CSR)
//         POST /api/v1/signingCert (Fulcio v1 adapter for Go clients: cosign, containers/image) -> PEM chain
//         POST /api/v1/log/entries, /api/v2/log/entries (Rekor)   POST /api/v1/timestamp (TSA: JSON or DER TimeStampReq)
//         GET /api/v1/log/publicKey, /trusted_root.json, /healthz
// Limits: OIDC token signature is NOT verified (decoded only); no GET of log entries / inclusion proofs beyond the
// tree-size-1 proof returned at upload; SAN = email when the `sub` claim looks like an email, else URI.
const http = require('http'); const fs = require('fs'); const path = require('path'); const crypto = require('crypto');
const asn1js = require('asn1js'); // let the mock TSA encode 64-bit nonces exactly (BigInt)
const OrigInteger = asn1js.Integer;
asn1js.Integer = class extends OrigInteger {
  constructor(p = {}) {
    if (typeof p.value === 'bigint') { const t = OrigInteger.fromBigInt(p.value); const { value, ...rest } = p; super({ ...rest, valueHex: t.valueBlock.valueHexView }); }
    else super(p);
  }
};
require('reflect-metadata');
const px509 = require('@peculiar/x509'); // issue email SANs for email identities, like real Fulcio
const OrigSAN = px509.SubjectAlternativeNameExtension;
const argv = process.argv.slice(2);
const args = Object.fromEntries(argv.reduce((a, v, i, arr) => (v.startsWith('--') ? a.concat([[v.slice(2), arr[i + 1]]]) : a), []));
px509.SubjectAlternativeNameExtension = class extends OrigSAN {
  constructor(names, critical) {
    if (Array.isArray(names) && args['san-type'] !== 'uri') names = names.map((n) => (n.type === 'url' && /^[^@\s/:]+@[^@\s/]+$/.test(n.value) ? { type: 'email', value: n.value } : n));
    super(names, critical);
  }
};
const mock = require('@sigstore/mock');
const port = parseInt(args.port || '8300', 10); const host = args.host || '127.0.0.1';
const out = args.out || process.cwd(); const base = `http://${host}:${port}`;
const gen = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64 = (b) => Buffer.from(b).toString('base64');
const pem = (label, der) => `-----BEGIN ${label}-----\n${b64(der).match(/.{1,64}/g).join('\n')}\n-----END ${label}-----\n`;
const u8 = (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
(async () => {
  const ctlog = await mock.initializeCTLog(gen());
  const ca = await mock.initializeCA(gen(), ctlog);
  const tlog = await mock.initializeTLog(base, gen());
  const tsa = await mock.initializeTSA(gen());
  // sigward change: whole-second genTime. DER drops trailing zeros of the fraction ("...20.25Z"), and sigstore-js
  // 4 (@sigstore/core 3.2 parseTime) accepts only 0 or 3 fraction digits: 1 timestamp in 10 failed to verify.
  tsa.getCurrentTime = () => new Date(Math.floor(Date.now() / 1000) * 1000);
  const fulcioV2 = mock.fulcioHandler(ca, { subjectClaim: args['subject-claim'] || 'sub' });
  const rekorV1 = mock.rekorHandler(tlog); const rekorV2 = mock.rekorV2Handler(tlog); const tsaH = mock.tsaHandler(tsa);
  const start = new Date(Date.now() - 3600 * 1000).toISOString();
  const spkiId = (spki) => b64(crypto.createHash('sha256').update(spki).digest());
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: { rawBytes: b64(tlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } }, logId: { keyId: spkiId(tlog.publicKey) } }],
    certificateAuthorities: [{ subject: { organization: 'sigstore.mock', commonName: 'sigstore' }, uri: base, certChain: { certificates: [{ rawBytes: b64(u8(ca.rootCertificate)) }] }, validFor: { start } }],
    ctlogs: [{ baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: { rawBytes: b64(ctlog.publicKey), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } }, logId: { keyId: b64(u8(ctlog.logID)) } }],
    timestampAuthorities: [{ subject: { organization: 'sigstore.mock', commonName: 'sigstore-tsa' }, uri: base, certChain: { certificates: [{ rawBytes: b64(u8(tsa.intCertificate)) }, { rawBytes: b64(u8(tsa.rootCertificate)) }] }, validFor: { start } }],
  };
  fs.mkdirSync(out, { recursive: true });
  // sigward change: GET /trusted_root.json serves the very bytes written to DIR, so that scripts/peers.sh can tell
  // with cmp whether the files on disk belong to this server.
  const trustedRootJson = JSON.stringify(trustedRoot, null, 2) + '\n';
  fs.writeFileSync(path.join(out, 'trusted_root.json'), trustedRootJson);
  fs.writeFileSync(path.join(out, 'fulcio-root.pem'), pem('CERTIFICATE', u8(ca.rootCertificate)));
  fs.writeFileSync(path.join(out, 'rekor.pub'), pem('PUBLIC KEY', tlog.publicKey));
  fs.writeFileSync(path.join(out, 'ctlog.pub'), pem('PUBLIC KEY', ctlog.publicKey));
  fs.writeFileSync(path.join(out, 'tsa-chain.pem'), pem('CERTIFICATE', u8(tsa.intCertificate)) + pem('CERTIFICATE', u8(tsa.rootCertificate)));
  const HASH_OIDS = { '2.16.840.1.101.3.4.2.1': 1, '2.16.840.1.101.3.4.2.2': 1, '2.16.840.1.101.3.4.2.3': 1 };
  const tsaDer = async (raw) => {
    const pkijs = require('pkijs');
    const tsq = pkijs.TimeStampReq.fromBER(new Uint8Array(raw).buffer);
    const alg = tsq.messageImprint.hashAlgorithm.algorithmId;
    if (!HASH_OIDS[alg]) return { statusCode: 400, response: 'unsupported hash ' + alg };
    const nonce = tsq.nonce ? BigInt('0x' + (Buffer.from(tsq.nonce.valueBlock.valueHexView).toString('hex') || '0')) : 1234567890;
    const resp = await tsa.timestamp({ artifactHash: Buffer.from(tsq.messageImprint.hashedMessage.valueBlock.valueHexView), hashAlgorithmOID: alg, nonce, policyOID: tsq.reqPolicy || '1.3.6.1.4.1.57264.2', certReq: !!tsq.certReq });
    return { statusCode: 201, response: Buffer.from(resp.buffer, resp.byteOffset, resp.byteLength), contentType: 'application/timestamp-reply' };
  };
  const bearer = (h) => (h.authorization || '').replace(/^Bearer\s+/i, '');
  const withBearer = (body, h) => {
    const j = JSON.parse(body);
    if (!(j.credentials && j.credentials.oidcIdentityToken) && bearer(h)) j.credentials = { oidcIdentityToken: bearer(h) };
    if (j.certificateSigningRequest && !j.certificateSigningRequest.includes('BEGIN')) j.certificateSigningRequest = Buffer.from(j.certificateSigningRequest, 'base64').toString();
    return JSON.stringify(j);
  };
  // sigward change: the mock's PEM certificates have the whole base64 on one line; real Fulcio wraps at 64 columns
  // (RFC 7468), and strict PEM parsers reject anything else. Re-wrap every certificate of a Fulcio v1/v2 response.
  const wrapPem = (s) => s.replace(/-----BEGIN ([A-Z ]+)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----\s*/g,
    (m, label, body) => pem(label, Buffer.from(body.replace(/\s+/g, ''), 'base64')));
  const fulcioV2Wrapped = async (body) => {
    const r = await fulcioV2.fn(body);
    if (r.statusCode !== 201) return r;
    const j = JSON.parse(r.response);
    for (const k of ['signedCertificateEmbeddedSct', 'signedCertificateDetachedSct']) {
      if (j[k] && j[k].chain) j[k].chain.certificates = j[k].chain.certificates.map(wrapPem);
    }
    return { ...r, response: JSON.stringify(j) };
  };
  const fulcioV1 = async (body, h) => {
    const req = JSON.parse(body);
    const unb64 = (v) => (String(v).includes('BEGIN') ? String(v) : Buffer.from(String(v), 'base64').toString('latin1'));
    let v2;
    if (req.certificateSigningRequest) {
      v2 = { credentials: { oidcIdentityToken: bearer(h) }, certificateSigningRequest: unb64(req.certificateSigningRequest) };
    } else {
      let key = unb64(req.publicKey.content);
      if (!key.includes('BEGIN')) key = pem('PUBLIC KEY', Buffer.from(key, 'latin1'));
      v2 = { credentials: { oidcIdentityToken: bearer(h) }, publicKeyRequest: { publicKey: { algorithm: 'ECDSA', content: key }, proofOfPossession: req.signedEmailAddress || '' } };
    }
    const r = await fulcioV2Wrapped(JSON.stringify(v2));
    if (r.statusCode !== 201) return r;
    return { statusCode: 201, response: JSON.parse(r.response).signedCertificateEmbeddedSct.chain.certificates.join(''), contentType: 'application/pem-certificate-chain' };
  };
  // sigward change: the mock logs the proposed entry as it came. Real Rekor v1 stores a server-side canonical
  // form for two kinds (rekor pkg/types/*/Canonicalize), and verifiers check the envelope against that form:
  //   dsse 0.0.1   {envelopeHash, payloadHash, signatures: [{signature, verifier}]} instead of proposedContent
  //                (sigstore-js rejects the raw form of cosign's attestations: "signature count mismatch");
  //   intoto 0.0.2 the envelope without its payload.
  // The mock then JCS-canonicalizes the body, as Rekor does.
  const sha256hex = (b) => crypto.createHash('sha256').update(b).digest('hex');
  const rekorV1Canonical = (body) => {
    let e;
    try { e = JSON.parse(body); } catch (_) { return body; }
    if (e && e.kind === 'dsse' && e.apiVersion === '0.0.1' && e.spec && e.spec.proposedContent) {
      const raw = e.spec.proposedContent.envelope;
      const env = JSON.parse(raw);
      const verifiers = e.spec.proposedContent.verifiers || [];
      const signatures = (env.signatures || [])
        .map((s, i) => ({ signature: s.sig, verifier: verifiers.length === 1 ? verifiers[0] : verifiers[i] }))
        .sort((x, y) => (x.signature < y.signature ? -1 : x.signature > y.signature ? 1 : 0));
      return JSON.stringify({ apiVersion: '0.0.1', kind: 'dsse', spec: {
        envelopeHash: { algorithm: 'sha256', value: sha256hex(Buffer.from(raw)) },
        payloadHash: { algorithm: 'sha256', value: sha256hex(Buffer.from(env.payload, 'base64')) },
        signatures } });
    }
    if (e && e.kind === 'intoto' && e.apiVersion === '0.0.2' && e.spec && e.spec.content && e.spec.content.envelope) {
      delete e.spec.content.envelope.payload;
      return JSON.stringify(e);
    }
    return body;
  };
  const routes = {
    'POST /api/v2/signingCert': (b, h) => fulcioV2Wrapped(withBearer(b, h)),
    'POST /api/v1/signingCert': fulcioV1,
    'POST /api/v1/log/entries': (b) => rekorV1.fn(rekorV1Canonical(b)),
    'POST /api/v2/log/entries': (b) => rekorV2.fn(b),
    'POST /api/v1/timestamp': (b, h, raw) => (/timestamp-query/.test(h['content-type'] || '') || raw[0] === 0x30 ? tsaDer(raw) : tsaH.fn(b)),
    'GET /api/v1/log/publicKey': async () => ({ statusCode: 200, response: pem('PUBLIC KEY', tlog.publicKey), contentType: 'application/x-pem-file' }),
    'GET /trusted_root.json': async () => ({ statusCode: 200, response: trustedRootJson, contentType: 'application/json' }),
    'GET /healthz': async () => ({ statusCode: 200, response: 'ok' }),
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const route = routes[`${req.method} ${req.url.split('?')[0]}`];
      if (!route) { res.writeHead(404, { 'Content-Type': 'text/plain' }); return res.end('not found'); }
      try {
        const raw = Buffer.concat(chunks);
        const r = await route(raw.toString(), req.headers, raw);
        const headers = { 'Content-Type': r.contentType || 'text/plain' };
        if (req.url.startsWith('/api/v1/log/entries') && r.statusCode === 201) headers.Location = `${base}/api/v1/log/entries/${Object.keys(JSON.parse(r.response))[0]}`;
        res.writeHead(r.statusCode, headers); res.end(r.response);
      } catch (e) { res.writeHead(500); res.end(String((e && e.stack) || e)); }
    });
  });
  server.listen(port, host, () => { fs.writeFileSync(path.join(out, 'ready'), base + '\n'); console.log(`sigstore mock listening on ${base}`); });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop); process.on('SIGINT', stop);
})().catch((e) => { console.error(e); process.exit(1); });
