// A native app on the pharmacy's PC (RFC 8252), built on openid-client as a public client
// (no secret: PKCE alone): the system browser signs the holder in with the registered
// passkey, and the app receives the redirect
//   1. on a real HTTP listener on an ephemeral loopback port (the client registered
//      http://127.0.0.1/callback, without a port), the ID token checked by the library;
//   2. through a private-use scheme (jp.example.pharmacy:/callback), the request pushed first
//      (PAR, openid-client's buildAuthorizationUrlWithPAR): no browser can open the scheme
//      here, so the redirect is read from the login's answer, as the operating system would
//      hand it to the app.
// It may sign, so its tokens are bound to a key of its own (DPoP, openid-client's handle): each
// sign-in's token then reads UserInfo and the CSC API's credentials with a proof per call.
//
//   HPKI_BIN=… HPKI_DATA=… BASE=http://localhost:PORT node e2e/native.mjs
// The data directory needs holder 999999 with a second certificate.

import http from 'node:http';
import * as oidc from 'openid-client';
import { cliFor, launch, phone, register } from './phone.mjs';

const { HPKI_BIN, HPKI_DATA, BASE } = process.env;
if (!HPKI_BIN || !HPKI_DATA || !BASE) throw new Error('set HPKI_BIN, HPKI_DATA and BASE');
const cli = cliFor(HPKI_BIN, HPKI_DATA);
const insecure = { execute: [oidc.allowInsecureRequests] };

const app = JSON.parse(cli('client', 'add', '--name', '例示薬局 デスクトップ版',
  '--redirect-uri', 'http://127.0.0.1/callback', '--redirect-uri', 'jp.example.pharmacy:/callback',
  '--auth', 'passkey', '--signing', 'scal1', '--json'));
if (app.client_type !== 'public' || app.token_endpoint_auth_method !== 'none' || app.dpop_bound_access_tokens !== true) {
  throw new Error(`client add made ${JSON.stringify(app)}`);
}
const config = await oidc.discovery(new URL(BASE), app.client_id, undefined, oidc.None(), insecure);
// The same service found as an OAuth 2.0 authorization server (RFC 8414 metadata).
const asOAuth = await oidc.discovery(new URL(BASE), app.client_id, undefined, oidc.None(),
  { ...insecure, algorithm: 'oauth2' });
for (const k of ['issuer', 'authorization_endpoint', 'token_endpoint', 'dpop_signing_alg_values_supported']) {
  if (JSON.stringify(asOAuth.serverMetadata()[k]) !== JSON.stringify(config.serverMetadata()[k])) {
    throw new Error(`RFC 8414 metadata differs in ${k}`);
  }
}

async function signIn(page, redirectUri, arrived, { pushed = false } = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const params = {
    redirect_uri: redirectUri, scope: 'openid profile hpki service', state, nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  };
  // Pushed (RFC 9126): the browser carries only the client ID and the request_uri.
  const url = pushed
    ? await oidc.buildAuthorizationUrlWithPAR(config, params)
    : oidc.buildAuthorizationUrl(config, params);
  if (pushed && (url.searchParams.get('scope') || !url.searchParams.get('request_uri'))) {
    throw new Error(`not pushed: ${url.href}`);
  }
  await page.goto(url.href);
  await page.waitForSelector('#go:not([disabled])');
  const back = await arrived(() => page.click('#go'));
  // A public client allowed to sign binds its tokens to a key of its own (DPoP).
  const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair());
  const tokens = await oidc.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  }, undefined, { ...insecure, DPoP }).catch((e) => {
    throw new Error(`${redirectUri}: the code exchange or the ID token check failed: ${e.message} ${JSON.stringify(e.cause ?? '')}`);
  });
  const claims = tokens.claims();
  if (claims.hpki_username !== '999999-jpa' || claims.aud !== app.client_id) {
    throw new Error(`${redirectUri}: ID token ${JSON.stringify(claims)}`);
  }
  // The bound token, with a fresh proof for each call: UserInfo and the CSC API.
  const me = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
  if (me.hpki_username !== '999999-jpa') throw new Error(`userinfo ${JSON.stringify(me)}`);
  const list = await oidc.fetchProtectedResource(config, tokens.access_token,
    new URL(`${BASE}/csc/v2/credentials/list`), 'POST', '{}',
    new Headers({ 'Content-Type': 'application/json' }), { DPoP });
  const credentials = await list.json();
  if (list.status !== 200 || credentials.credentialIDs?.[0] !== '999999-jpa/second') {
    throw new Error(`credentials/list: ${list.status} ${JSON.stringify(credentials)}`);
  }
  return back;
}

const browser = await launch();
const { context, page } = await phone(browser);
await register(page, cli, BASE);

// 1. The app's own listener, on whatever port the system gave it.
const listener = http.createServer();
await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
const { port } = listener.address();
const back = await signIn(page, `http://127.0.0.1:${port}/callback`, async (go) => {
  const request = new Promise((resolve) => listener.once('request', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="ja"><title>例示薬局</title><p>サインインしました。アプリに戻ってください。</p></html>');
    resolve(`http://127.0.0.1:${port}${req.url}`);
  }));
  await go();
  const url = await request;
  // The next sign-in starts from this page: the browser must have shown it first.
  await page.waitForURL(url);
  return url;
});
listener.close();
if (!back.startsWith(`http://127.0.0.1:${port}/callback?`)) throw new Error(`came back to ${back}`);

// 2. The private-use scheme: the login's answer names where the browser goes. It is read as it
// passes (not afterwards from the page: once the page hands the scheme to the system, Chromium
// may have dropped the response's body).
await signIn(page, 'jp.example.pharmacy:/callback', async (go) => {
  const finish = '**/oidc/login/finish';
  const redirect = new Promise((resolve, reject) => page.route(finish, async (route) => {
    try {
      const response = await route.fetch();
      resolve((await response.json()).redirect);
      await route.fulfill({ response });
    } catch (e) {
      reject(e);
    }
  }));
  await go();
  const to = await redirect;
  await page.unroute(finish);
  if (!to.startsWith('jp.example.pharmacy:/callback?code=')) throw new Error(`sent to ${to}`);
  return to;
}, { pushed: true });

await context.close();
await browser.close();
console.log(`native app: openid-client signed the holder in through a loopback listener on port ${port} and through a private-use scheme, with DPoP-bound tokens`);
