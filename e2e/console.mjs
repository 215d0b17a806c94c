// The operator console in Debian's Chromium at a desktop size, with a virtual authenticator as
// the operator's passkey: enrolment from the link, sign-in, a holder found by half-width kana,
// a locked sheet reissued (the new one works, the old one says it was superseded), a lost HPKI
// card (card certificates only) asked after a fresh passkey assertion and carried out when
// another operator, an approver, approves it (dual control), an auditor who only reads.
// Keyboard where it matters; axe-core on every screen; screenshots to OUT.
//
//   HPKI_BIN=… HPKI_DATA=… BASE=… ENROL_OPERATOR=… ENROL_AUDITOR=… SHEET_URL=… SHEET_PASSWORD=… \
//     OUT=docs/screens node e2e/console.mjs

import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { axeCheck } from './axe.mjs';

const { BASE, ENROL_OPERATOR, ENROL_AUDITOR, ENROL_APPROVER, SHEET_URL, SHEET_PASSWORD, FACE_PNG } = process.env;
const OUT = process.env.OUT ?? 'docs/screens';
for (const v of ['BASE', 'ENROL_OPERATOR', 'ENROL_AUDITOR', 'ENROL_APPROVER', 'SHEET_URL', 'SHEET_PASSWORD', 'FACE_PNG']) {
  if (!process.env[v]) throw new Error(`set ${v}`);
}
mkdirSync(OUT, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function desk() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'ja-JP' });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'usb', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return { context, page };
}

const check = async (page, text) => {
  await page.waitForFunction((t) => document.body.innerText.includes(t), text, { timeout: 15000 })
    .catch(async () => { throw new Error(`expected ${JSON.stringify(text)} on ${page.url()}:\n${await page.innerText('body')}`); });
};
const shot = async (page, name) => {
  await axeCheck(page, name);
  await page.screenshot({ path: `${OUT}/${name}.png`, fullPage: true });
};
const local = (url) => BASE + new URL(url).pathname;

async function enrolAndSignIn(page, link, name) {
  await page.goto(local(link));
  await check(page, 'コンソールの利用登録');
  await check(page, name);
  return async (screens) => {
    if (screens) await shot(page, 'console-01-enrol');
    await page.click('#go');
    await page.waitForURL('**/admin/login?enrolled=1', { timeout: 15000 });
    await check(page, 'コンソールにサインイン');
    await check(page, 'パスキーを登録しました');
    if (screens) await shot(page, 'console-02-sign-in');
    // By keyboard: the name, Tab to the button, Enter.
    await page.focus('#name');
    await page.keyboard.type(name);
    await page.keyboard.press('Tab');
    await Promise.all([page.waitForURL(`${BASE}/admin`, { timeout: 15000 }), page.keyboard.press('Enter')]);
    await check(page, '保有者の検索');
  };
}

// 1. The holder's sheet locks after five wrong passwords (manual 2.1.3).
{
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ja-JP' });
  const page = await context.newPage();
  await page.goto(local(SHEET_URL));
  const wrong = [...SHEET_PASSWORD].reverse().join('');
  for (let i = 0; i < 5; i++) {
    await page.fill('#password', wrong);
    await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  }
  await check(page, 'パスワードの入力回数が上限に達しました');
  await context.close();
}

// 2. The operator enrols, signs in, finds the holder by half-width kana, reissues the sheet.
let newSheet = null;
{
  const { page, context } = await desk();
  await (await enrolAndSignIn(page, ENROL_OPERATOR, 'desk'))(true);
  await shot(page, 'console-03-search');
  await page.fill('#q', 'ﾔｸｻﾞｲ');
  await Promise.all([page.waitForLoadState('load'), page.keyboard.press('Enter')]);
  await check(page, '999999-jpa');
  await shot(page, 'console-04-results');
  await Promise.all([page.waitForLoadState('load'), page.click('a[href="/admin/holders/999999-jpa"]')]);
  await check(page, 'ロック');
  await check(page, '監査ログ');
  await check(page, '薬剤師');
  await shot(page, 'console-05-holder');

  // The face photo, replaced in the console (by keyboard: the file chooser, then the button).
  await page.setInputFiles('#photo-file', FACE_PNG);
  await page.focus('#photo-go');
  await Promise.all([page.waitForURL('**/admin/holders/999999-jpa?done=photo'), page.keyboard.press('Enter')]);
  await check(page, '顔写真を登録しました');
  await shot(page, 'console-13-photo-set');
  // The worklist of phones reported lost, from the menu.
  await Promise.all([page.waitForLoadState('load'), page.click('.console-bar a[href="/admin/lost-phones"]')]);
  await check(page, '紛失が届け出られた端末');
  await shot(page, 'console-14-lost-phones');
  await page.goto(`${BASE}/admin/holders/999999-jpa`);

  await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/confirm/reissue"] button')]);
  await check(page, '初期登録用 QR の再発行');
  await page.fill('#reason', '用紙ロック（本人から電話）');
  await shot(page, 'console-06-confirm');
  await Promise.all([page.waitForLoadState('load'), page.click('#do')]);
  await check(page, '用紙を発行しました');
  await shot(page, 'console-07-sheet-issued');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[download]')]);
  const saved = await download.path();
  const { readFileSync } = await import('node:fs');
  if (!readFileSync(saved).subarray(0, 4).equals(Buffer.from('%PDF'))) throw new Error('the download is not a PDF');
  const facts = await page.$$eval('dl.facts dd', (dds) => dds.map((d) => d.innerText.trim()));
  newSheet = { url: facts[1], password: facts[2] };
  if (!newSheet.url.includes('/r/')) throw new Error(`no sheet URL on the page: ${facts}`);

  // 3. HPKI card lost, card certificates only: the revocation waits for a fresh assertion.
  await page.goto(`${BASE}/admin/holders/999999-jpa`);
  await Promise.all([page.waitForLoadState('load'), page.click('form[action$="/confirm/lost-card"] button')]);
  await check(page, 'HPKI カード紛失（カードの証明書のみ）');
  if (!(await page.isDisabled('#do'))) throw new Error('the revocation could be sent before the fresh assertion');
  await page.fill('#reason', 'カード紛失の届出');
  // The page's script must be running before its button does anything.
  await page.waitForLoadState('load');
  await page.click('#go');
  await page.waitForSelector('#reauth-done:not([hidden])');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'do');
  await shot(page, 'console-08-revocation-confirmed');
  await Promise.all([page.waitForURL('**/admin/holders/999999-jpa?requested=*'), page.keyboard.press('Enter')]);
  await check(page, '承認を待っています');
  await shot(page, 'console-09-requested');

  // The batch screen: sheets expiring within 91 days (all: sheets last 90), by the menu.
  await Promise.all([page.waitForLoadState('load'), page.click('.console-bar a[href="/admin/sheets"]')]);
  await page.fill('#within', '91');
  await Promise.all([page.waitForLoadState('load'), page.keyboard.press('Enter')]);
  await check(page, '91 日以内に期限が切れる用紙：1 件');
  await shot(page, 'console-12-expiring-sheets');

  await Promise.all([page.waitForURL('**/admin/login'), page.click('.console-bar button.link')]);
  await page.goto(`${BASE}/admin`);
  await page.waitForURL('**/admin/login');
  await context.close();
}

// 4. The new sheet works; the old one says a newer sheet was issued.
{
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ja-JP' });
  const page = await context.newPage();
  await page.goto(local(SHEET_URL));
  await check(page, '新しい初期登録用 QR が発行されています');
  await page.goto(local(newSheet.url));
  await page.fill('#password', newSheet.password);
  await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
  await check(page, 'SignIn');
  await context.close();
}

// 5. An auditor reads the holder's page and has nothing to press.
{
  const { page, context } = await desk();
  await (await enrolAndSignIn(page, ENROL_AUDITOR, 'audit-1'))(false);
  await page.goto(`${BASE}/admin/holders/999999-jpa`);
  await check(page, '監査ログ');
  if ((await page.$$('form[action*="/confirm/"]')).length !== 0) throw new Error('an auditor is offered actions');
  await shot(page, 'console-10-auditor');
  // A form an auditor cannot see, sent all the same: refused in Japanese, with the menu.
  await Promise.all([page.waitForLoadState('load'), page.evaluate(() => {
    const f = document.createElement('form');
    f.method = 'post';
    f.action = '/admin/holders/999999-jpa/do/suspend';
    document.body.appendChild(f);
    f.submit();
  })]);
  await check(page, 'この操作はできません');
  await check(page, '閲覧のみ');
  if (!(await page.$('nav.console-bar a[href="/admin"]'))) throw new Error('the refusal has no console links');
  await shot(page, 'console-15-refused');
  await context.close();
}

// 6. An approver approves the lost card's request after a fresh assertion: carried out at once.
{
  const { page, context } = await desk();
  await (await enrolAndSignIn(page, ENROL_APPROVER, 'boss'))(false);
  await page.goto(`${BASE}/admin/approvals`);
  await check(page, 'HPKI カード紛失（カードの証明書のみ）');
  await check(page, 'desk');
  await page.waitForLoadState('load');
  await page.click('#go');
  await page.waitForSelector('#reauth-done:not([hidden])');
  await shot(page, 'console-11-approvals');
  await Promise.all([page.waitForURL('**/admin/approvals?done=approved'), page.click('button.needs-reauth')]);
  await check(page, '承認し、実行しました');
  await page.goto(`${BASE}/admin/holders/999999-jpa`);
  await check(page, 'approval.carried_out');
  await context.close();
}

await browser.close();
console.log(`console: enrolment, sign-in, search, reissue, lost card under dual control, auditor checked; screenshots in ${OUT}`);
