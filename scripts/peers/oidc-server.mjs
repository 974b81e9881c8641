// Copied from the shared peer recipes (shared/peers/test-peers.sh, embedded "oidc-server.mjs"; findings in
// shared/peers/README.md section 8). Test infrastructure data: scripts/peers.sh copies it into $SIGWARD_PEERS_DIR/npm
// (next to node_modules, so that the import resolves) and runs it as the "oidc" peer.
// Local OIDC provider (oauth2-mock-server 8.x): discovery, JWKS, RS256-signed ID tokens.
// usage: node oidc-server.mjs PORT   (issuer = http://localhost:PORT unless OIDC_ISSUER_URL is set)
// Non-interactive ID token: POST /token grant_type=password&username=<email>&password=x&client_id=sigstore&scope=openid
//   -> id_token with sub=email=<username>, email_verified=true, aud=<client_id>.
// Auth-code + PKCE: GET /authorize auto-redirects to redirect_uri with a code (no login page).
import { OAuth2Server } from 'oauth2-mock-server';
const port = parseInt(process.argv[2] || '8400', 10);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.service.on('beforeTokenSigning', (token, req) => {
  const u = (req.body && req.body.username) || process.env.OIDC_DEFAULT_SUBJECT || 'test@example.com';
  token.payload.email = u; token.payload.email_verified = true;
  if (token.payload.aud && token.payload.aud === (req.body && req.body.client_id)) token.payload.sub = u;
});
await server.start(port, '127.0.0.1');
if (process.env.OIDC_ISSUER_URL) server.issuer.url = process.env.OIDC_ISSUER_URL;
console.log('OIDC issuer:', server.issuer.url);
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop); process.on('SIGINT', stop);
