// The sheet pages (/r/{token}) in Debian's Chromium at a phone's size: every state, with a
// screenshot of each in OUT (docs/screens by default). Needs a running server (BASE) and its
// data directory (HPKI_DATA) with holder 999999-jpa, and the hpki-second binary (HPKI_BIN).
//
//   HPKI_BIN=target/debug/hpki-second HPKI_DATA=… BASE=http://127.0.0.1:PORT node e2e/sheet-pages.mjs

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { axeCheck } from './axe.mjs';

const { HPKI_BIN, HPKI_DATA, BASE } = process.env;
const OUT = process.env.OUT ?? 'docs/screens';
const PUBLIC = process.env.PUBLIC_URL ?? 'https://hpki.example.jp';
if (!HPKI_BIN || !HPKI_DATA || !BASE) throw new Error('set HPKI_BIN, HPKI_DATA and BASE');
mkdirSync(OUT, { recursive: true });

const cli = (...args) => execFileSync(HPKI_BIN, ['--data-dir', HPKI_DATA, ...args], { encoding: 'utf8' });
const issue = () => {
  const s = JSON.parse(cli('sheet', 'issue', '--holder', '999999', '--json'));
  return { path: s.url.replace(PUBLIC, ''), password: s.password };
};

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({
  viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  userAgent: IPHONE, locale: 'ja-JP',
});
const page = await context.newPage();
const shot = async (name) => {
  await axeCheck(page, name);
  await page.screenshot({ path: `${OUT}/${name}.png`, fullPage: true });
};
const expectText = async (text) => {
  const body = await page.textContent('body');
  if (!body.includes(text)) throw new Error(`expected ${JSON.stringify(text)} on ${page.url()}:\n${body}`);
};
const submit = async (password) => {
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
};

// 1. The password screen, a wrong password, the right one, the SignIn screen.
const sheet = issue();
await page.goto(BASE + sheet.path);
await expectText('パスワードの入力');
await shot('sheet-01-password');
await submit('WRANGPATH3477');
await expectText('あと 4 回');
await shot('sheet-02-wrong-password');
await submit(sheet.password);
if (!page.url().endsWith('/register')) throw new Error(`not redirected: ${page.url()}`);
if ((await page.inputValue('#username')) !== '999999-jpa') throw new Error('Username is empty');
await shot('sheet-03-signin');
await page.reload();
if ((await page.inputValue('#username')) !== '999999-jpa') throw new Error('Username empty after reload');

// 2. Superseded (the sheet above, after a reissue), then locked.
const newer = issue();
await page.goto(BASE + sheet.path);
await expectText('新しい初期登録用 QR が発行されています');
await shot('sheet-04-superseded');
await page.goto(BASE + newer.path);
for (let i = 0; i < 5; i++) await submit('WRANGPATH3477');
await expectText('パスワードの入力回数が上限に達しました');
await shot('sheet-05-locked');

// 3. Revoked, unknown.
const revoked = issue();
cli('sheet', 'revoke', '--holder', '999999');
await page.goto(BASE + revoked.path);
await expectText('この QR コードは取り消されました');
await shot('sheet-06-revoked');
await page.goto(`${BASE}/r/${'0'.repeat(32)}`);
await expectText('この QR コードは使用できません');
await shot('sheet-07-unknown');
// A short page fits the screen: no stray scrolling (the header used to push it 14 px down).
{
  const [scroll, view] = await page.evaluate(() => [document.documentElement.scrollHeight, window.innerHeight]);
  if (scroll > view) throw new Error(`a short page scrolls: ${scroll} > ${view}`);
}

// 4. The per-address limit (burst 10: seven attempts so far, three more, then refused).
const last = issue();
await page.goto(BASE + last.path);
for (let i = 0; i < 4; i++) await submit('WRANGPATH3477');
await expectText('しばらく待ってから入力してください');
await shot('sheet-08-rate-limited');

await browser.close();
console.log(`sheet pages: all states checked, screenshots in ${OUT}`);
