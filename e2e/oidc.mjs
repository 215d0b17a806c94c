// A relying system signs the holder in, built on a certified OpenID Connect client library
// (openid-client), with a client secret and with private_key_jwt: discovery, the authorization code flow with PKCE through Debian's Chromium,
// where the holder answers with the passkey registered through their sheet (a virtual platform
// authenticator), the code exchanged, the ID token validated against the JWKS, userinfo.
// Screenshots of the login page go to OUT.
//
// Then the same relying-party code with the HPKI card on a computer: the page shows a code,
// `hpki-second card sign-in` signs the challenge with a SoftHSM2 token playing the card.
//
//   HPKI_BIN=… HPKI_DATA=… BASE=http://localhost:PORT CARD_CONF=… CARD_MODULE=… CARD_PIN=… \
//     OUT=docs/screens node e2e/oidc.mjs
// The data directory needs holder 999999 with a second certificate, and the card token an
// authentication certificate issued to 999999 (crates/cli/tests/it/browser.rs makes both).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as oidc from 'openid-client';
import { axeCheck } from './axe.mjs';
import { check, cliFor, click, launch, phone as newPhone, register as registerPhone } from './phone.mjs';

const { HPKI_BIN, HPKI_DATA, BASE, CARD_CONF, CARD_MODULE, CARD_PIN } = process.env;
const OUT = process.env.OUT ?? 'docs/screens';
if (!HPKI_BIN || !HPKI_DATA || !BASE) throw new Error('set HPKI_BIN, HPKI_DATA and BASE');
if (!CARD_CONF || !CARD_MODULE || !CARD_PIN) throw new Error('set CARD_CONF (the SoftHSM2 configuration of the card token), CARD_MODULE and CARD_PIN');
mkdirSync(OUT, { recursive: true });

const cli = cliFor(HPKI_BIN, HPKI_DATA);
const REDIRECT = 'https://pharmacy.example.jp/hpki/callback';
const rp = JSON.parse(cli('client', 'add', '--name', '例示薬局 電子処方箋システム',
  '--redirect-uri', REDIRECT, '--auth', 'passkey', '--secret', '--json'));

const browser = await launch();

async function phone(locale = 'ja-JP') {
  const { context, page } = await newPhone(browser, locale);
  // The relying system's callback: the browser is sent there; its address is what counts.
  let callback = null;
  await page.route(`${REDIRECT}**`, (route) => {
    callback = route.request().url();
    route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><html lang="ja"><title>callback</title><p>ok</p></html>' });
  });
  return { context, page, callback: () => callback };
}

const shot = async (page, name) => {
  await axeCheck(page, name);
  await page.screenshot({ path: `${OUT}/${name}.png`, fullPage: true });
};
const register = (page) => registerPhone(page, cli, BASE);

// The relying system, as a pharmacy system's integrator would write it.
const config = await oidc.discovery(new URL(BASE), rp.client_id, undefined,
  oidc.ClientSecretBasic(rp.client_secret), { execute: [oidc.allowInsecureRequests] });
if (config.serverMetadata().issuer !== BASE) throw new Error(`issuer ${config.serverMetadata().issuer}`);

async function startLogin(rpConfig = config) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rpConfig, {
    redirect_uri: REDIRECT,
    scope: 'openid profile hpki',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url, verifier, state, nonce };
}

// 1. The holder registers a phone, then signs in to the pharmacy system with it.
{
  const { page, context, callback } = await phone();
  await register(page);
  const login = await startLogin();
  await page.goto(login.url.href);
  await check(page, 'HPKI セカンド電子証明書でサインイン');
  await check(page, '例示薬局 電子処方箋システム');
  await page.waitForSelector('#go:not([disabled])');
  await shot(page, 'login-01-sign-in');
  await page.click('#go');
  await page.waitForFunction(() => location.href.startsWith('https://pharmacy.example.jp/'), null, { timeout: 15000 });
  const back = callback();
  if (!back) throw new Error('the browser did not come back to the relying system');
  const tokens = await oidc.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: login.verifier,
    expectedState: login.state,
    expectedNonce: login.nonce,
    idTokenExpected: true,
  }, undefined, { execute: [oidc.allowInsecureRequests] }).catch((e) => {
    throw new Error(`the code exchange or the ID token check failed: ${e.message} ${JSON.stringify(e.cause ?? '')}`);
  });
  const claims = tokens.claims();
  for (const [k, v] of Object.entries({ hpki_username: '999999-jpa', qualification: 'Pharmacist', registry_number: '999999' })) {
    if (claims[k] !== v) throw new Error(`ID token ${k} is ${claims[k]}, not ${v}`);
  }
  if (JSON.stringify(claims.amr) !== JSON.stringify(['hwk', 'user'])) throw new Error(`amr ${JSON.stringify(claims.amr)}`);
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { execute: [oidc.allowInsecureRequests] });
  if (info.name !== '薬剤\u3000太郎') throw new Error(`userinfo name ${info.name}`);
  // Its resource server asks about the token (RFC 7662): active, about this session.
  const introspected = await oidc.tokenIntrospection(config, tokens.access_token);
  if (introspected.active !== true || introspected.sub !== claims.sub || introspected.sid !== claims.sid) {
    throw new Error(`introspection ${JSON.stringify(introspected)}`);
  }

  // The code again: refused (and what it opened ends).
  await oidc.authorizationCodeGrant(config, new URL(back), {
    pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce,
  }, undefined, { execute: [oidc.allowInsecureRequests] }).then(
    () => { throw new Error('a replayed code was accepted'); },
    (e) => { if (!String(e.error ?? e.code ?? e.message).includes('invalid_grant')) throw new Error(`replay: ${e.message}`); },
  );
  await oidc.fetchUserInfo(config, tokens.access_token, claims.sub, { execute: [oidc.allowInsecureRequests] }).then(
    () => { throw new Error('userinfo answered for an ended session'); },
    () => {},
  );
  const ended = await oidc.tokenIntrospection(config, tokens.access_token);
  if (ended.active !== false || !String(ended.end_reason).includes('code replayed')) {
    throw new Error(`introspection after the replay ${JSON.stringify(ended)}`);
  }

  // A second relying system that shares no secret: it signs a JWT with its own key
  // (private_key_jwt), openid-client's PrivateKeyJwt; the holder signs in with the same phone.
  const { privateKey, publicKey } = await crypto.subtle.generateKey(
    { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const jwk = { ...(await crypto.subtle.exportKey('jwk', publicKey)), use: 'sig', kid: 'rp-key-1' };
  delete jwk.key_ops;
  delete jwk.ext;
  const jwksFile = `${HPKI_DATA}/rp-jwks.json`;
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const rp2 = JSON.parse(cli('client', 'add', '--name', '例示薬局 電子処方箋システム',
    '--redirect-uri', REDIRECT, '--jwks-file', jwksFile, '--json'));
  const config2 = await oidc.discovery(new URL(BASE), rp2.client_id, undefined,
    oidc.PrivateKeyJwt({ key: privateKey, kid: 'rp-key-1' }), { execute: [oidc.allowInsecureRequests] });
  const login2 = await startLogin(config2);
  await page.goto(login2.url.href);
  await page.waitForSelector('#go:not([disabled])');
  await page.click('#go');
  await page.waitForFunction(() => location.href.startsWith('https://pharmacy.example.jp/'), null, { timeout: 15000 });
  const tokens2 = await oidc.authorizationCodeGrant(config2, new URL(callback()), {
    pkceCodeVerifier: login2.verifier, expectedState: login2.state, expectedNonce: login2.nonce, idTokenExpected: true,
  }, undefined, { execute: [oidc.allowInsecureRequests] }).catch((e) => {
    throw new Error(`private_key_jwt: ${e.message} ${JSON.stringify(e.cause ?? '')}`);
  });
  if (tokens2.claims().aud !== rp2.client_id) throw new Error(`aud ${tokens2.claims().aud}`);

  // SCAL2: the pharmacy system asks the holder to authorize two prescriptions' signatures.
  const rp3 = JSON.parse(cli('client', 'add', '--name', '例示薬局 電子処方箋システム',
    '--redirect-uri', REDIRECT, '--auth', 'passkey', '--signing', 'scal2', '--secret', '--json'));
  const consent = new URL(`${BASE}/csc/v2/oauth2/authorize`);
  const digest = (s) => createHash('sha256').update(s).digest('base64');
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: rp3.client_id, redirect_uri: REDIRECT, scope: 'credential',
    state: 'consent-1', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    authorization_details: JSON.stringify([{ type: 'credential', credentialID: '999999-jpa/second',
      documentDigests: [{ hash: digest('rx-1'), label: '処方箋 2026-12-01 内科' }, { hash: digest('rx-2'), label: '処方箋 2026-12-01 整形外科' }] }]),
  })) consent.searchParams.set(k, v);
  await page.goto(consent.href);
  await check(page, '署名の承認');
  await check(page, '処方箋 2026-12-01 整形外科');
  await page.waitForSelector('#go:not([disabled])');
  await shot(page, 'consent-01-authorize');
  await page.click('#go');
  await page.waitForFunction(() => location.href.includes('state=consent-1'), null, { timeout: 15000 });
  if (!new URL(callback()).searchParams.get('code')) throw new Error('no code after the consent');

  // The holder's own page (the registration above signed this browser in), in a new tab of
  // the same browser (the consent's redirect may still be settling in the first): the system
  // signed in to with private_key_jwt is listed; "sign out of every system" ends its session.
  const me = await context.newPage();
  await me.goto(BASE + '/register/me');
  await check(me, 'サインイン中のシステム');
  await check(me, '例示薬局 電子処方箋システム');
  await shot(me, 'holder-04-signed-in-systems');
  await click(me, 'form[action="/register/me/sign-out"] button');
  await check(me, '件のサインインを終了しました');
  await oidc.fetchUserInfo(config2, tokens2.access_token, tokens2.claims().sub, { execute: [oidc.allowInsecureRequests] }).then(
    () => { throw new Error('userinfo answered after the holder signed out'); },
    () => {},
  );
  await me.close();

  // The holder's page after an OpenID Connect sign-in (/me), in a browser with no sheet
  // session (cookies cleared; the phone's page, where its virtual authenticator is): the
  // login page for the page itself, the page, signing out of it; a callback this browser did
  // not start says what to do.
  const mine = page;
  await context.clearCookies();
  await mine.goto(BASE + '/me');
  await check(mine, '保有者のページ');
  await mine.waitForSelector('#go:not([disabled])');
  await mine.click('#go');
  await mine.waitForURL(`${BASE}/me`, { timeout: 15000 }).catch(async (e) => {
    throw new Error(`/me after the sign-in: at ${mine.url()}:\n${await mine.innerText('body')}\n${e.message}`);
  });
  await check(mine, 'セカンド電子証明書の利用状況');
  await check(mine, 'この端末');
  await shot(mine, 'holder-05-after-sign-in');
  // By keyboard: Tab reaches "sign out of this page", Enter presses it.
  for (let i = 0; i < 40 && !(await mine.evaluate(() => document.activeElement?.closest('form[action="/me/leave"]'))); i++) {
    await mine.keyboard.press('Tab');
  }
  await Promise.all([mine.waitForLoadState('load'), mine.keyboard.press('Enter')]);
  await check(mine, 'このページからサインアウトしました');
  await shot(mine, 'holder-06-signed-out');
  await mine.goto(BASE + '/me/callback?code=x&state=y');
  await check(mine, 'サインインできませんでした');
  await shot(mine, 'holder-07-sign-in-failed');
  await context.close();
}

// 2. Another phone, without the holder's passkey: Security Key Error, with what to do.
{
  const { page, context } = await phone();
  const login = await startLogin();
  await page.goto(login.url.href);
  await page.waitForSelector('#go:not([disabled])');
  await page.click('#go');
  await page.waitForSelector('#security-key-error:not([hidden])');
  await check(page, '登録済みの端末ではない');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'go');
  await shot(page, 'login-02-not-the-registered-phone');
  await context.close();
}

// 3. The English page, and a request from a relying system that is not registered.
{
  const { page, context } = await phone('en-US');
  const login = await startLogin();
  await page.goto(login.url.href);
  await check(page, 'Sign in with your HPKI second certificate');
  await page.waitForSelector('#go:not([disabled])');
  await shot(page, 'login-03-english');
  const bad = new URL(login.url.href);
  bad.searchParams.set('redirect_uri', 'https://evil.example/cb');
  const res = await page.goto(bad.href);
  if (res.status() !== 400) throw new Error(`an unregistered redirect_uri got ${res.status()}`);
  await check(page, 'This sign-in cannot start');
  await shot(page, 'login-04-request-refused');
  await context.close();
}

// 4. The HPKI card on a computer: the page shows a code, the card client answers, the page
// continues by itself; openid-client exchanges the code and checks the ID token (amr sc, pin).
{
  const rpCard = JSON.parse(cli('client', 'add', '--name', '例示クリニック 電子カルテ',
    '--redirect-uri', REDIRECT, '--auth', 'any', '--secret', '--json'));
  const configCard = await oidc.discovery(new URL(BASE), rpCard.client_id, undefined,
    oidc.ClientSecretBasic(rpCard.client_secret), { execute: [oidc.allowInsecureRequests] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'ja-JP' });
  const page = await context.newPage();
  let callback = null;
  await page.route(`${REDIRECT}**`, (route) => {
    callback = route.request().url();
    route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><html lang="ja"><title>callback</title><p>ok</p></html>' });
  });
  const login = await startLogin(configCard);
  await page.goto(login.url.href);
  await check(page, 'HPKI カードを使う場合');
  await shot(page, 'login-05-card-choice');
  // By keyboard: Tab to the card's button, Enter.
  await page.focus('#card-go');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#card-waiting:not([hidden])');
  const code = (await page.textContent('#card-code')).replace(/\s/g, '');
  if (!/^[0-9]{8}$/.test(code)) throw new Error(`the page shows ${code}, not an 8-digit code`);
  const command = await page.textContent('#card-command');
  if (!command.includes(`card sign-in ${code} --url ${BASE}`)) throw new Error(`the page's command: ${command}`);
  await shot(page, 'login-06-card-code');
  // The command exactly as the page shows it, with the module and PIN set as a setup guide says.
  const [program, ...args] = command.trim().split(/\s+/);
  if (program !== 'hpki-second') throw new Error(`the page's command runs ${program}`);
  const out = execFileSync(HPKI_BIN, args, {
    env: { ...process.env, SOFTHSM2_CONF: CARD_CONF, HPKI_CARD_MODULE: CARD_MODULE, HPKI_CARD_PIN: CARD_PIN },
    encoding: 'utf8',
  });
  if (!out.includes('999999-jpa')) throw new Error(`card sign-in said: ${out}`);
  await page.waitForFunction(() => location.href.startsWith('https://pharmacy.example.jp/'), null, { timeout: 15000 });
  const tokens = await oidc.authorizationCodeGrant(configCard, new URL(callback), {
    pkceCodeVerifier: login.verifier, expectedState: login.state, expectedNonce: login.nonce, idTokenExpected: true,
  }, undefined, { execute: [oidc.allowInsecureRequests] }).catch((e) => {
    throw new Error(`card: the code exchange or the ID token check failed: ${e.message} ${JSON.stringify(e.cause ?? '')}`);
  });
  const claims = tokens.claims();
  if (JSON.stringify(claims.amr) !== JSON.stringify(['sc', 'pin'])) throw new Error(`card amr ${JSON.stringify(claims.amr)}`);
  if (claims.hpki_username !== '999999-jpa') throw new Error(`card hpki_username ${claims.hpki_username}`);
  const info = await oidc.fetchUserInfo(configCard, tokens.access_token, claims.sub, { execute: [oidc.allowInsecureRequests] });
  if (info.registry_number !== '999999') throw new Error(`card userinfo ${JSON.stringify(info)}`);
  await context.close();
}

await browser.close();
console.log(`OpenID Connect: openid-client signed the holder in (passkey and HPKI card) and checked the ID tokens; screenshots in ${OUT}`);
