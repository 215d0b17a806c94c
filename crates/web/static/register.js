// The registration start screen (manual 1.2 (5)-(6), and step 8's "Sign In" check).
// The options are fetched before the tap, so that navigator.credentials.create()/get() runs
// directly in the tap handler: Safari refuses WebAuthn started after asynchronous work.
(() => {
  'use strict';
  const root = document.getElementById('ceremony');
  if (!root) return;
  const mode = root.dataset.mode; // "register" | "signin"
  const button = document.getElementById('go');

  const { show, fail } = window.hpkiWebAuthn.screens(root);

  const EN = document.documentElement.lang === 'en';
  const MESSAGES = EN ? {
    no_user_verification: 'Your identity was not checked with biometrics (or a screen lock), so nothing was registered. Set up biometrics on the device and try again.',
    challenge_expired: 'Too much time passed. Tap the button again.',
    challenge_unknown: 'This step was already finished or started on another page. Tap the button again.',
    too_many_devices: 'The most devices allowed are already registered for this ID. To change phones, ask the certification authority to delete the registered one.',
    credential_exists: 'This device is already registered. ',
    counter_regression: 'This passkey may not be safe to use, so it was stopped. Contact the certification authority.',
    device_suspect: 'This passkey has been stopped. Contact the certification authority.',
    other_holder: 'The passkey on this device belongs to another ID. Use the device of the person this sheet is for.',
    unknown_credential: 'The passkey on this device is not registered.',
    device_changed: 'This passkey was used for another sign-in at the same moment, or was stopped. Tap the button again.',
    no_device: 'No device is registered.',
    wrong_origin: 'The answer came from another site and was not accepted.',
    wrong_rp: 'This passkey is not for this site.',
    bad_signature: 'The answer from this device could not be verified. Tap the button again; if it happens again, contact the certification authority.',
    malformed: 'The answer from this device was not understood. Open the page again in Safari or Chrome and try again.',
    verification_failed: 'The answer from this device could not be checked. Tap the button again.',
    unauthorized: 'The registration time ran out. Scan the QR code on your sheet again.',
    default: 'This could not be done. Please try again in a moment.',
    network: 'No connection. Move to a place with a better signal and open the page again.',
    scan_again: 'To check it with "Sign In", scan the QR code again.',
  } : {
    no_user_verification: '生体認証（指紋・顔認証）または画面ロックによる本人確認が行われなかったため、登録できませんでした。端末の設定で生体認証を登録してから、もう一度お試しください。',
    challenge_expired: '時間が経ちすぎたため、受け付けられませんでした。もう一度ボタンをタップしてください。',
    challenge_unknown: 'この操作はすでに完了しているか、別の画面で始められたものです。もう一度ボタンをタップしてください。',
    too_many_devices: 'この本人 ID には、登録できる台数の端末がすでに登録されています。端末を替える場合は、認証局に登録済みの端末の削除を依頼してください。',
    credential_exists: 'この端末はすでに登録されています。',
    counter_regression: 'この認証情報は安全に使えない可能性があるため、利用を停止しました。認証局にお問い合わせください。',
    device_suspect: 'この認証情報は利用が停止されています。認証局にお問い合わせください。',
    other_holder: 'この端末の認証情報は、別の本人 ID のものです。この初期登録用 QR の本人の端末でお試しください。',
    unknown_credential: 'この端末の認証情報は登録されていません。',
    device_changed: '同じ認証情報で別のサインインが同時に行われたか、利用が停止されました。もう一度ボタンをタップしてください。',
    no_device: '登録済みの端末がありません。',
    wrong_origin: 'このサイト以外で作られた応答のため、受け付けられませんでした。',
    wrong_rp: 'このサイト用の認証情報ではないため、受け付けられませんでした。',
    bad_signature: 'この端末からの応答を確認できませんでした。もう一度ボタンをタップしてください。繰り返す場合は認証局にお問い合わせください。',
    malformed: 'この端末からの応答を読み取れませんでした。Safari または Chrome でページを開き直して、もう一度お試しください。',
    verification_failed: 'この端末からの応答を確認できませんでした。もう一度ボタンをタップしてください。',
    unauthorized: '登録の有効時間が過ぎました。初期登録用 QR のコードをもう一度読み取ってください。',
    default: '処理できませんでした。しばらく待ってから、もう一度お試しください。',
    network: '通信できませんでした。電波の良い所で、もう一度ページを開いてください。',
    scan_again: '「Sign In」で確認するには、QR コードをもう一度読み取ってください。',
  };
  const serverMessage = (body) => MESSAGES[body && body.error] || MESSAGES.default;

  // The JSON forms of WebAuthn and the CSRF-carrying POST: /static/webauthn.js.
  const { creationOptions, requestOptions, credentialJSON, post } = window.hpkiWebAuthn;

  // --- before the tap: can this browser do it at all? ---
  if (!window.PublicKeyCredential || !navigator.credentials || !navigator.credentials.create) {
    show('unsupported');
    button.hidden = true;
    return;
  }
  let options = null;
  const prefetch = async () => {
    try {
      const res = await post('/register/options', { mode });
      const body = await res.json();
      if (!res.ok) {
        fail(serverMessage(body));
        button.hidden = true;
        return;
      }
      options = body;
      button.disabled = false;
    } catch {
      fail(MESSAGES.network);
    }
  };
  const checkPlatform = PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable
    ? PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable()
    : Promise.resolve(false);
  checkPlatform.then((available) => {
    if (!available) {
      show('no-platform');
      button.hidden = true;
      return;
    }
    prefetch();
    // A challenge lives five minutes: keep a fresh one ready.
    setInterval(() => { if (!button.hidden) prefetch(); }, 4 * 60 * 1000);
  });

  // --- the tap: WebAuthn first, nothing asynchronous before it ---
  button.addEventListener('click', () => {
    if (!options) return;
    const ceremony = mode === 'register'
      ? navigator.credentials.create({ publicKey: creationOptions(options) })
      : navigator.credentials.get({ publicKey: requestOptions(options) });
    options = null;
    button.disabled = true;
    show('working');
    ceremony
      .then(async (cred) => {
        const res = await post(`/register/finish?mode=${mode}`, credentialJSON(cred));
        const body = await res.json().catch(() => ({}));
        if (res.ok && body.next) {
          window.location.assign(body.next);
          return;
        }
        fail(serverMessage(body));
        prefetch().then(() => { if (!button.hidden && !button.disabled) button.focus(); });
      })
      .catch((err) => {
        console.warn('WebAuthn failed:', err && err.name, err && err.message);
        if (err && err.name === 'InvalidStateError') {
          fail(MESSAGES.credential_exists + MESSAGES.scan_again);
        } else {
          // NotAllowedError: no biometrics enrolled, an unsupported browser, the dialog was
          // closed, or (Sign In) not the registered phone.
          show('security-key-error');
        }
        // Back to the button, for keyboards and screen readers, once it can be tapped again.
        prefetch().then(() => { if (!button.hidden && !button.disabled) button.focus(); });
      });
  });
})();
