// What several browser tests share: Debian's Chromium, a phone-sized context with a virtual
// platform authenticator (the phone's passkey), waiting for text, clicking through a page
// load, and registering the phone through a new sheet (manual 1.2).

import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

export const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/// A phone: an iPhone-sized context whose authenticator verifies the user (biometrics).
export async function phone(browser, locale = 'ja-JP') {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    userAgent: IPHONE, locale,
  });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return { context, page };
}

export const check = async (page, text) => {
  await page.waitForFunction((t) => document.body.innerText.includes(t), text, { timeout: 15000 })
    .catch(async () => { throw new Error(`expected ${JSON.stringify(text)} on ${page.url()}:\n${await page.innerText('body')}`); });
};

export const click = async (page, selector) => {
  await Promise.all([page.waitForLoadState('load'), page.click(selector)]);
};

/// The CLI on the test's data directory.
export const cliFor = (bin, data) => (...args) =>
  execFileSync(bin, ['--data-dir', data, ...args], { encoding: 'utf8' });

/// Registers the phone's passkey for holder 999999 through a new sheet (manual 1.2).
export async function register(page, cli, base) {
  const sheet = JSON.parse(cli('sheet', 'issue', '--holder', '999999', '--json'));
  await page.goto(base + new URL(sheet.url).pathname);
  await page.fill('#password', sheet.password);
  await click(page, 'button[type=submit]');
  await check(page, 'SignIn');
  await click(page, 'button[type=submit]');
  await page.waitForSelector('#go:not([disabled])');
  await page.click('#go');
  await page.waitForURL('**/register/label?device=*');
  await click(page, 'button[type=submit]');
  await check(page, '処理が完了しました');
}
