// The pharmacy's PC signs the holder in with the registered phone and no Bluetooth: the device
// authorization grant (RFC 8628) with openid-client's device functions
// (initiateDeviceAuthorization, pollDeviceAuthorizationGrant) as a public client on the PC, and
// a headless Chromium context with the registered virtual authenticator as the phone, which
// opens verification_uri_complete (what the PC's QR code holds) and approves with its own
// passkey. The access token then signs through the CSC API, and the signature verifies with
// the certificate's key (Node's crypto, OpenSSL). The refusal ends in access_denied, a request
// nobody answers in expired_token; a wrong code says so on the phone. Screenshots (each checked by axe-core) go to OUT.
//
//   HPKI_BIN=… HPKI_DATA=… BASE=http://localhost:PORT OUT=docs/screens node e2e/device.mjs
// The data directory needs holder 999999 with a second certificate.

import { createHash, createPublicKey, verify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as oidc from 'openid-client';
import { axeCheck } from './axe.mjs';
import { check, cliFor, launch, phone, register } from './phone.mjs';

const { HPKI_BIN, HPKI_DATA, BASE } = process.env;
const OUT = process.env.OUT ?? 'docs/screens';
if (!HPKI_BIN || !HPKI_DATA || !BASE) throw new Error('set HPKI_BIN, HPKI_DATA and BASE');
mkdirSync(OUT, { recursive: true });
const cli = cliFor(HPKI_BIN, HPKI_DATA);
const insecure = { execute: [oidc.allowInsecureRequests] };
const shot = async (page, name) => {
  await axeCheck(page, name);
  await page.screenshot({ path: `${OUT}/${name}.png`, fullPage: true });
};

// The pharmacy system on the PC: a public client that may sign (SCAL1).
const app = JSON.parse(cli('client', 'add', '--name', '例示薬局 電子処方箋システム',
  '--redirect-uri', 'http://127.0.0.1/callback', '--auth', 'passkey', '--signing', 'scal1', '--json'));
const config = await oidc.discovery(new URL(BASE), app.client_id, undefined, oidc.None(), insecure);
if (!config.serverMetadata().device_authorization_endpoint) throw new Error('discovery has no device_authorization_endpoint');

const browser = await launch();
const { context, page } = await phone(browser);
await register(page, cli, BASE);

// 1. The PC asks; the phone scans the QR code (its address), sees the system and the code,
// and approves by keyboard (Tab to the button, Enter) with its own passkey.
const asked = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile hpki service' });
if (!/^[A-Z]{4}-[A-Z]{4}$/.test(asked.user_code)) throw new Error(`user_code ${asked.user_code}`);
// A public client allowed to sign binds its tokens to a key of its own (DPoP, RFC 9449):
// openid-client's DPoP handle signs a proof for each request.
const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair());
const polling = oidc.pollDeviceAuthorizationGrant(config, asked, undefined, { ...insecure, DPoP });
await page.goto(asked.verification_uri_complete);
await check(page, '例示薬局 電子処方箋システム');
await check(page, asked.user_code);
await page.waitForSelector('#go:not([disabled])');
await shot(page, 'device-02-approve');
for (let i = 0; i < 30 && !(await page.evaluate(() => document.activeElement?.id === 'go')); i++) {
  await page.keyboard.press('Tab');
}
await Promise.all([page.waitForURL(`${BASE}/device/done`, { timeout: 20000 }), page.keyboard.press('Enter')]);
await check(page, 'パソコンの画面に戻ってください');
await shot(page, 'device-03-done');
const tokens = await polling.catch((e) => {
  throw new Error(`the device grant's poll failed: ${e.message} ${JSON.stringify(e.cause ?? '')}`);
});
const claims = tokens.claims();
if (claims.hpki_username !== '999999-jpa' || claims.aud !== app.client_id) throw new Error(`ID token ${JSON.stringify(claims)}`);
if (!claims.amr.includes('mca') || !claims.amr.includes('hwk')) throw new Error(`amr ${JSON.stringify(claims.amr)}`);

if (tokens.token_type.toLowerCase() !== 'dpop') throw new Error(`token_type ${tokens.token_type}`);

// The PC signs a prescription's hash through the CSC API with the access token, each call
// with a fresh proof (openid-client's fetchProtectedResource); the signature verifies with the
// second certificate's public key. The token alone, as a bearer token, signs nothing.
const csc = async (path, body, token = tokens.access_token) => {
  const r = await oidc.fetchProtectedResource(config, token, new URL(`${BASE}/csc/v1/${path}`), 'POST',
    JSON.stringify(body), new Headers({ 'Content-Type': 'application/json' }), { DPoP });
  const json = await r.json();
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(json)}`);
  return json;
};
const copied = await fetch(`${BASE}/csc/v1/credentials/list`, {
  method: 'POST', headers: { Authorization: `Bearer ${tokens.access_token}`, 'Content-Type': 'application/json' }, body: '{}',
});
if (copied.status !== 401) throw new Error(`the bound token alone: ${copied.status}`);
const credentialID = '999999-jpa/second';
const info = await csc('credentials/info', { credentialID, certificates: 'single' });
const document = Buffer.from('<Prescription>電子処方箋</Prescription>');
const hash = createHash('sha256').update(document).digest('base64');
const { SAD } = await csc('credentials/authorize', { credentialID, numSignatures: 1 });
const { signatures } = await csc('signatures/signHash', { credentialID, SAD, hash: [hash], signAlgo: '1.2.840.113549.1.1.11' });
const certificate = `-----BEGIN CERTIFICATE-----\n${info.cert.certificates[0].match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
if (!verify('sha256', document, createPublicKey(certificate), Buffer.from(signatures[0], 'base64'))) {
  throw new Error('the signature does not verify with the second certificate');
}

// 2. The holder refuses on the phone: the PC's poll ends with access_denied.
const refused = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
const refusedPoll = oidc.pollDeviceAuthorizationGrant(config, refused, undefined, { ...insecure, DPoP }).then(
  () => { throw new Error('tokens after a refusal'); },
  (e) => { if (e.error !== 'access_denied') throw new Error(`after a refusal: ${e.error ?? e.message}`); },
);
await page.goto(refused.verification_uri_complete);
await page.waitForSelector('#go:not([disabled])');
await Promise.all([page.waitForLoadState('load'), page.click('form[action="/device/deny"] button')]);
await check(page, 'サインインを拒否しました');
await shot(page, 'device-04-refused');
await refusedPoll;

// 3. Per-document approval (SCAL2) on the phone: the PC asks for two prescriptions'
// signatures; the phone shows them; the credential token signs exactly those.
const scal2 = JSON.parse(cli('client', 'add', '--name', '例示薬局 電子処方箋システム',
  '--redirect-uri', 'http://127.0.0.1/callback', '--auth', 'passkey', '--signing', 'scal2', '--json'));
const config2 = await oidc.discovery(new URL(BASE), scal2.client_id, undefined, oidc.None(), insecure);
const rx = [Buffer.from('<Prescription>内科</Prescription>'), Buffer.from('<Prescription>整形外科</Prescription>')];
const digests = rx.map((d) => createHash('sha256').update(d).digest('base64'));
const perDocument = await oidc.initiateDeviceAuthorization(config2, {
  scope: 'credential',
  authorization_details: JSON.stringify([{ type: 'credential', credentialID,
    documentDigests: [{ hash: digests[0], label: '処方箋 2026-12-08 内科' }, { hash: digests[1], label: '処方箋 2026-12-08 整形外科' }] }]),
});
const DPoP2 = oidc.getDPoPHandle(config2, await oidc.randomDPoPKeyPair());
const perDocumentPoll = oidc.pollDeviceAuthorizationGrant(config2, perDocument, undefined, { ...insecure, DPoP: DPoP2 });
await page.goto(perDocument.verification_uri_complete);
await check(page, '署名の承認');
await check(page, '処方箋 2026-12-08 整形外科');
await page.waitForSelector('#go:not([disabled])');
await shot(page, 'device-07-approve-documents');
await Promise.all([page.waitForURL(`${BASE}/device/done`, { timeout: 20000 }), page.click('#go')]);
const credentialToken = (await perDocumentPoll).access_token;
const signWith = async (hash) => oidc.fetchProtectedResource(config2, credentialToken,
  new URL(`${BASE}/csc/v2/signatures/signHash`), 'POST',
  JSON.stringify({ credentialID, hashes: [hash], signAlgo: '1.2.840.113549.1.1.11' }),
  new Headers({ 'Content-Type': 'application/json' }), { DPoP: DPoP2 });
const refusedOther = await signWith(createHash('sha256').update('another').digest('base64'));
if (refusedOther.status !== 400) throw new Error(`a hash not approved: ${refusedOther.status}`);
const approved = await signWith(digests[1]);
if (approved.status !== 200) throw new Error(`an approved hash: ${approved.status} ${await approved.text()}`);
const [sig] = (await approved.json()).signatures;
if (!verify('sha256', rx[1], createPublicKey(certificate), Buffer.from(sig, 'base64'))) {
  throw new Error('the approved document\'s signature does not verify');
}

// 4. The code typed by hand, wrong: the page says what to do; the form in English.
await page.goto(`${BASE}/device`);
await shot(page, 'device-01-enter-code');
await page.fill('#user_code', 'BCDF-GHJK');
await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
await check(page, 'このコードは使えません');
await shot(page, 'device-05-wrong-code');
await page.goto(`${BASE}/device?lang=en`);
await check(page, 'Sign in on a computer');
await shot(page, 'device-06-english');

// 5. Nobody answers: the request expires, and the PC's poll ends with expired_token. The
// servers of this data directory read the time from the test clock file beside it (moved
// ahead here instead of waiting ten minutes); nothing after this step needs the old time. (A
// system that only signs holders in, so that no DPoP proof made on this machine's clock meets
// the server's moved one.)
const viewer = JSON.parse(cli('client', 'add', '--name', '例示薬局 受付', '--redirect-uri',
  'http://127.0.0.1/callback', '--auth', 'passkey', '--json'));
const viewerConfig = await oidc.discovery(new URL(BASE), viewer.client_id, undefined, oidc.None(), insecure);
const unanswered = await oidc.initiateDeviceAuthorization(viewerConfig, { scope: 'openid' });
const clock = join(dirname(HPKI_DATA), 'test-clock');
const ahead = existsSync(clock) ? Number(readFileSync(clock, 'utf8').trim()) : 0;
writeFileSync(clock, `${ahead + unanswered.expires_in + 1}\n`);
await oidc.pollDeviceAuthorizationGrant(viewerConfig, unanswered, undefined, insecure).then(
  () => { throw new Error('tokens for a request nobody answered'); },
  (e) => { if (e.error !== 'expired_token') throw new Error(`after the expiry: ${e.error ?? e.message}`); },
);

await context.close();
await browser.close();
console.log(`device grant: openid-client polled ${asked.user_code} to tokens approved on the Chromium phone, signed through the CSC API, and heard access_denied after a refusal and expired_token after the expiry`);
