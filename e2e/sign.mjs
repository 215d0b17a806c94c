// The reference signing client, `hpki-second sign`, run as a pharmacy system's vendor would,
// with a Chromium phone holding the registered passkey:
//   1. through the device grant: the client prints the QR code's address, the phone opens it
//      and approves; the e-prescription comes back signed (XAdES; the Rust test checks it with
//      xmlsec1), and the session is kept in a file only the user can read;
//   2. again with the kept session: a hash is signed at once, no sign-in, and the signature
//      verifies with the second certificate (Node's crypto, OpenSSL); the kept token is bound
//      to the session file's key (DPoP) and works only with a proof of it;
//   3. through the system browser and a loopback listener (--no-browser: the client prints
//      the address, the phone's browser opens it, and the redirect reaches the client's
//      ephemeral port).
//
//   HPKI_BIN=… HPKI_DATA=… BASE=http://localhost:PORT SIGN_DIR=… node e2e/sign.mjs
// The data directory needs holder 999999 with a second certificate; SIGN_DIR receives
// rx.xml, rx.signed.xml, any.xml and any.signed.xml.

import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign as signWith, verify } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { cliFor, launch, phone, register } from './phone.mjs';

const { HPKI_BIN, HPKI_DATA, BASE, SIGN_DIR } = process.env;
if (!HPKI_BIN || !HPKI_DATA || !BASE || !SIGN_DIR) throw new Error('set HPKI_BIN, HPKI_DATA, BASE and SIGN_DIR');
const cli = cliFor(HPKI_BIN, HPKI_DATA);

const app = JSON.parse(cli('client', 'add', '--name', '例示薬局 電子処方箋システム',
  '--redirect-uri', 'http://127.0.0.1/callback', '--auth', 'passkey', '--signing', 'scal1', '--json'));
const session = `${SIGN_DIR}/session.json`;
const rx = `${SIGN_DIR}/rx.xml`;
writeFileSync(rx, '<?xml version="1.0" encoding="UTF-8"?>\n<Document>\n  <Prescription>\n    <PrescriptionManagement>\n      <Version Value="EPS1.0"/>\n    </PrescriptionManagement>\n    <PrescriptionDocument>MSwxLDIwMjYxMjAxLOODhuOCueODiOiWrOWxgAo=</PrescriptionDocument>\n    <PrescriptionSign/>\n  </Prescription>\n</Document>\n');

/// Runs `hpki-second sign ARGS`; `onLine` sees each line of its output as it comes.
function sign(args, onLine) {
  return new Promise((resolve, reject) => {
    const child = spawn(HPKI_BIN, ['sign', '--url', BASE, '--client-id', app.client_id, '--session', session, ...args],
      { env: process.env });
    let out = '';
    let err = '';
    let pending = '';
    child.stdout.on('data', (d) => {
      out += d;
      pending += d;
      let i;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 1);
        Promise.resolve().then(() => onLine?.(line)).catch((e) => { child.kill(); reject(e); });
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => {
      if (code === 0) resolve({ out, err });
      else reject(new Error(`hpki-second sign ${args.join(' ')} exited ${code}:\n${out}\n${err}`));
    });
  });
}

const browser = await launch();
const { context, page } = await phone(browser);
await register(page, cli, BASE);

/// The phone opens an address the client printed, and approves with its passkey.
async function approve(url, done) {
  await page.goto(url);
  await page.waitForSelector('#go:not([disabled])');
  await Promise.all([page.waitForURL(done, { timeout: 20000 }), page.click('#go')]);
}

// 1. The device grant.
const first = await sign(['--device', '--document', rx, '--out', `${SIGN_DIR}/rx.signed.xml`], async (line) => {
  if (line.startsWith('verification: ')) await approve(line.slice('verification: '.length), `${BASE}/device/done`);
});
if (!first.out.includes('signed by 999999-jpa/second')) throw new Error(`sign said: ${first.out}`);
if (!first.err.includes('登録済みのスマートフォン')) throw new Error(`no instructions for the phone: ${first.err}`);
if (!/[█▀▄]/.test(first.err)) throw new Error('no QR code in the terminal');
if ((statSync(session).mode & 0o077) !== 0) throw new Error(`the session file is readable by others: ${statSync(session).mode.toString(8)}`);

// 2. The kept session: a hash signed at once.
const document = Buffer.from('処方箋 2026-12-07');
const hash = createHash('sha256').update(document).digest('base64');
const second = await sign(['--hash', hash], (line) => {
  if (line.startsWith('verification: ') || line.startsWith('authorization: ')) throw new Error('signed in again despite the kept session');
});
const signature = Buffer.from(second.out.trim(), 'base64');
// The kept token is bound to the session file's key (DPoP): the token alone is refused, and
// a proof made here with that key (Node's crypto, RFC 9449 by hand) is accepted.
const { access_token: token, dpop_key: stored } = JSON.parse(readFileSync(session, 'utf8'));
const key = createPrivateKey({ key: Buffer.from(stored, 'base64url'), format: 'der', type: 'pkcs8' });
const { kty, crv, x, y } = createPublicKey(key).export({ format: 'jwk' });
const thumbprint = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
if (claims.cnf?.jkt !== thumbprint) throw new Error(`the token is not bound to the session's key: ${JSON.stringify(claims.cnf)}`);
const infoUrl = `${BASE}/csc/v2/credentials/info`;
const proof = (nonce) => {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${part({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${part({
    jti: randomUUID(), htm: 'POST', htu: infoUrl, iat: Math.floor(Date.now() / 1000),
    ath: createHash('sha256').update(token).digest('base64url'), nonce,
  })}`;
  return `${input}.${signWith('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
};
const infoRequest = (headers) => fetch(infoUrl, {
  method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' },
  body: JSON.stringify({ credentialID: '999999-jpa/second' }),
});
const stolen = await infoRequest({ Authorization: `Bearer ${token}` });
if (stolen.status !== 401) throw new Error(`the token alone: ${stolen.status}`);
// The server runs with DPoP nonces: the first proof is answered with use_dpop_nonce and the
// nonce to put in the next (RFC 9449 §9).
const unnonced = await infoRequest({ Authorization: `DPoP ${token}`, DPoP: proof() });
const nonce = unnonced.headers.get('dpop-nonce');
if (unnonced.status !== 401 || !nonce) throw new Error(`a proof without the nonce: ${unnonced.status} ${await unnonced.text()}`);
const info = await (await infoRequest({ Authorization: `DPoP ${token}`, DPoP: proof(nonce) })).json();
const pem = `-----BEGIN CERTIFICATE-----\n${info.cert.certificates[0].match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
if (!verify('sha256', document, createPublicKey(pem), signature)) throw new Error('the hash\'s signature does not verify');

// 3. The browser and a loopback listener, with a new session.
writeFileSync(session, '{}');
const any = `${SIGN_DIR}/any.xml`;
writeFileSync(any, '<?xml version="1.0" encoding="UTF-8"?>\n<Order><Item>調剤録</Item></Order>\n');
const third = await sign(['--no-browser', '--document', any], async (line) => {
  if (line.startsWith('authorization: ')) await approve(line.slice('authorization: '.length), /127\.0\.0\.1:\d+\/callback/);
});
if (!third.out.includes(`${SIGN_DIR}/any.signed.xml`)) throw new Error(`sign said: ${third.out}`);

await context.close();
await browser.close();
console.log('hpki-second sign: signed a prescription through the device grant, a hash with the kept session, and an XML document through a loopback sign-in');
