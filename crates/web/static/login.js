// The login page a relying system sends the holder to: sign in with the passkey registered
// through the sheet (a discoverable credential: no username). On a computer the browser offers
// its cross-device flow, and the registered phone answers. As on the registration screen, the
// options are fetched before the tap, so that WebAuthn starts directly in the tap handler.
(() => {
  'use strict';
  const EN = document.documentElement.lang === 'en';
  // Keyed by the codes the server sends as `error`: the ceremony refusals a login can meet and
  // the login refusals (a test checks there is one for each, in both languages).
  const MESSAGES = EN ? {
    no_user_verification: 'Your identity was not checked with biometrics (or a screen lock). Set up biometrics on your phone and try again.',
    challenge_expired: 'Too much time passed. Tap "Sign in" again.',
    challenge_unknown: 'This step was already finished or started on another page. Tap "Sign in" again.',
    counter_regression: 'This passkey may not be safe to use, so it was stopped. Contact the certification authority.',
    device_suspect: 'This passkey has been stopped. Contact the certification authority.',
    unknown_credential: 'The passkey you used is not registered (it may have been deleted). Use your registered phone, or register a new one with a new initial registration sheet.',
    device_changed: 'This passkey was used for another sign-in at the same moment, or was stopped. Tap "Sign in" again.',
    wrong_origin: 'The answer came from another site and was not accepted.',
    wrong_rp: 'This passkey is not for this site.',
    bad_signature: 'The answer from your phone could not be verified. Tap "Sign in" again; if it happens again, contact the certification authority.',
    malformed: 'The answer from your phone was not understood. Try again in the latest Safari, Chrome or Edge.',
    verification_failed: 'The answer from your phone could not be checked. Tap "Sign in" again.',
    holder_suspended: 'Your second certificate cannot be used at the moment (your registration is suspended). Contact the certification authority.',
    no_second_certificate: 'You have no second electronic certificate that can be used now (it was revoked or has expired). Contact the certification authority.',
    method_not_allowed: 'The system you came from does not accept this way of signing in.',
    login_ended: 'This sign-in has ended (too much time passed, or it was finished in another window). Go back to the system you came from and start again.',
    not_your_credential: 'These signatures were asked of another person\'s certificate, so your phone cannot authorize them. Go back to the system you came from and check who is signing.',
    card_code_unknown: 'The code has expired or was already used. Press "Show a code" for a new one.',
    card_not_recognised: 'The certificate on this card was not issued by this certification authority as an authentication certificate. Use your own HPKI card, or contact the certification authority.',
    card_revoked: 'The authentication certificate on this card has been revoked. Contact the certification authority.',
    card_expired: 'The authentication certificate on this card has expired. Contact the certification authority about a new card.',
    card_signature_invalid: 'The card\'s answer could not be verified (it was not for this sign-in). Press "Show a code" and run the command again on this computer.',
    slow_down: 'Too many attempts. Wait a moment and try again.',
    default: 'This could not be done. Please try again in a moment.',
    network: 'No connection. Check your network and try again.',
  } : {
    no_user_verification: '生体認証（指紋・顔認証）または画面ロックによる本人確認が行われませんでした。スマートフォンの設定で生体認証を登録してから、もう一度お試しください。',
    challenge_expired: '時間が経ちすぎたため、受け付けられませんでした。もう一度「サインイン」をタップしてください。',
    challenge_unknown: 'この操作はすでに完了しているか、別の画面で始められたものです。もう一度「サインイン」をタップしてください。',
    counter_regression: 'この認証情報は安全に使えない可能性があるため、利用を停止しました。認証局にお問い合わせください。',
    device_suspect: 'この認証情報は利用が停止されています。認証局にお問い合わせください。',
    unknown_credential: '使われた認証情報は登録されていません（削除された可能性があります）。登録済みのスマートフォンを使うか、新しい初期登録用 QR で新しい端末を登録してください。',
    device_changed: '同じ認証情報で別のサインインが同時に行われたか、利用が停止されました。もう一度「サインイン」をタップしてください。',
    wrong_origin: 'このサイト以外で作られた応答のため、受け付けられませんでした。',
    wrong_rp: 'このサイト用の認証情報ではないため、受け付けられませんでした。',
    bad_signature: 'スマートフォンからの応答を確認できませんでした。もう一度「サインイン」をタップしてください。繰り返す場合は認証局にお問い合わせください。',
    malformed: 'スマートフォンからの応答を読み取れませんでした。最新の Safari・Chrome・Edge でもう一度お試しください。',
    verification_failed: 'スマートフォンからの応答を確認できませんでした。もう一度「サインイン」をタップしてください。',
    holder_suspended: '現在、セカンド電子証明書を利用できません（登録が停止されています）。認証局にお問い合わせください。',
    no_second_certificate: '現在利用できるセカンド電子証明書がありません（失効したか、有効期限が切れています）。認証局にお問い合わせください。',
    method_not_allowed: '元のシステムは、この方法でのサインインを受け付けていません。',
    login_ended: 'このサインインは終了しました（時間が経ちすぎたか、別の画面で完了しています）。元のシステムに戻り、最初からやり直してください。',
    not_your_credential: 'この署名は別の方の証明書で求められているため、このスマートフォンでは承認できません。元のシステムに戻り、署名する方を確認してください。',
    card_code_unknown: 'コードの有効期限が切れたか、すでに使われています。「コードを表示する」を押して新しいコードを表示してください。',
    card_not_recognised: 'このカードの証明書は、この認証局が発行した認証用の証明書ではありません。ご本人の HPKI カードを使うか、認証局にお問い合わせください。',
    card_revoked: 'このカードの認証用証明書は失効しています。認証局にお問い合わせください。',
    card_expired: 'このカードの認証用証明書は有効期限が切れています。新しいカードについて認証局にお問い合わせください。',
    card_signature_invalid: 'カードからの応答を確認できませんでした（このサインイン用の応答ではありません）。「コードを表示する」を押し、このパソコンでもう一度コマンドを実行してください。',
    slow_down: '試行が多すぎます。しばらく待ってから、もう一度お試しください。',
    default: '処理できませんでした。しばらく待ってから、もう一度お試しください。',
    network: '通信できませんでした。通信環境を確認して、もう一度お試しください。',
  };
  const serverMessage = (body) => MESSAGES[body && body.error] || MESSAGES.default;
  // A refusal after which trying again cannot help: no button.
  const FINAL = ['holder_suspended', 'no_second_certificate', 'method_not_allowed', 'login_ended', 'not_your_credential', 'counter_regression', 'device_suspect'];
  // A JSON POST with the page's CSRF value.
  const post = (path, body) =>
    fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        'Content-Type': 'application/json',
        'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content,
      },
      body: JSON.stringify(body),
    });

  // The HPKI card: a code for the card client, then a poll until the card has answered.
  const card = document.getElementById('card');
  if (card) {
    const cardButton = document.getElementById('card-go');
    const live = document.getElementById('live');
    const cardShow = (id) => {
      for (const el of card.querySelectorAll('[data-card-state]')) el.hidden = el.id !== id;
      const shown = document.getElementById(id);
      if (live && shown && id !== 'card-ready') live.textContent = shown.innerText;
    };
    let poll = null;
    const stop = () => { if (poll) clearInterval(poll); poll = null; };
    const cardFail = (body) => {
      stop();
      document.getElementById('card-failed-message').textContent = serverMessage(body);
      cardShow('card-failed');
      cardButton.hidden = FINAL.includes(body && body.error);
      cardButton.disabled = false;
      if (!cardButton.hidden) cardButton.focus();
    };
    const check = async () => {
      try {
        const res = await post('/oidc/login/card/status', {});
        const body = await res.json().catch(() => ({}));
        if (!res.ok) return cardFail(body);
        if (body.redirect) {
          stop();
          cardShow('card-done');
          cardButton.hidden = true;
          window.location.assign(body.redirect);
        }
      } catch {
        // A lost connection: the next poll tries again.
      }
    };
    cardButton.addEventListener('click', async () => {
      stop();
      cardButton.disabled = true;
      try {
        const res = await post('/oidc/login/card', {});
        const body = await res.json().catch(() => ({}));
        if (!res.ok) return cardFail(body);
        const grouped = `${body.code.slice(0, 4)} ${body.code.slice(4)}`;
        document.getElementById('card-code').textContent = grouped;
        document.getElementById('card-command').textContent =
          `hpki-second card sign-in ${body.code} --url ${card.dataset.url}`;
        cardShow('card-waiting');
        cardButton.textContent = EN ? 'Show a new code' : '新しいコードを表示する';
        cardButton.disabled = false;
        poll = setInterval(check, 2000);
      } catch {
        cardFail({ error: 'network' });
      }
    });
  }

  const root = document.getElementById('login');
  if (!root) return;
  const button = document.getElementById('go');
  if (!window.hpkiWebAuthn) {
    button.hidden = true;
    return;
  }
  const { show, fail } = window.hpkiWebAuthn.screens(root);

  if (!window.PublicKeyCredential || !navigator.credentials || !navigator.credentials.get) {
    show('unsupported');
    button.hidden = true;
    return;
  }
  const { requestOptions, credentialJSON } = window.hpkiWebAuthn;

  // The first options come with the page; new ones are fetched when these get old.
  let options = null;
  try {
    if (root.dataset.options) options = JSON.parse(root.dataset.options);
  } catch {
    options = null;
  }
  const refused = (body) => {
    fail(serverMessage(body));
    if (FINAL.includes(body && body.error)) button.hidden = true;
  };
  const prefetch = async () => {
    try {
      const res = await post('/oidc/login/options', {});
      const body = await res.json();
      if (!res.ok) {
        refused(body);
        button.hidden = true;
        return;
      }
      options = body;
      button.disabled = false;
    } catch {
      fail(MESSAGES.network);
    }
  };
  if (options) {
    button.disabled = false;
  } else {
    prefetch();
  }
  setInterval(() => { if (!button.hidden) prefetch(); }, 4 * 60 * 1000);

  button.addEventListener('click', () => {
    if (!options) return;
    const ceremony = navigator.credentials.get({ publicKey: requestOptions(options) });
    options = null;
    button.disabled = true;
    show('working');
    ceremony
      .then(async (cred) => {
        const res = await post('/oidc/login/finish', credentialJSON(cred));
        const body = await res.json().catch(() => ({}));
        if (res.ok && body.redirect) {
          show('done');
          button.hidden = true;
          window.location.assign(body.redirect);
          return;
        }
        refused(body);
        if (!button.hidden) prefetch().then(() => { if (!button.disabled) button.focus(); });
      })
      .catch((err) => {
        console.warn('WebAuthn failed:', err && err.name, err && err.message);
        show('security-key-error');
        prefetch().then(() => { if (!button.hidden && !button.disabled) button.focus(); });
      });
  });
})();
