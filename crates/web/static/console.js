// The operator console's WebAuthn ceremonies: enrolling a passkey or security key through the
// enrolment link, signing in, and the fresh assertion before a revocation. As on the holder
// pages, options are fetched before the click where they can be, so that WebAuthn starts
// directly in the click handler (Safari wants that).
(() => {
  'use strict';
  const root = document.getElementById('console-ceremony');
  if (!root || !window.hpkiWebAuthn) return;
  const { creationOptions, requestOptions, credentialJSON, post } = window.hpkiWebAuthn;
  const EN = document.documentElement.lang === 'en';
  const MESSAGES = EN ? {
    unsupported: 'This browser cannot use passkeys or security keys. Use the latest Chrome, Edge, Safari or Firefox.',
    no_name: 'Enter your operator name.',
    unauthorized: 'Sign-in failed: check the operator name, and use the passkey or security key you enrolled.',
    ceremony: 'The passkey prompt did not complete. Try again.',
    not_found: 'This enrolment link cannot be used any more. Ask for a new one.',
    slow_down: 'Too many attempts from this computer. Wait a minute and try again.',
    default: 'This could not be done. Try again in a moment.',
  } : {
    unsupported: 'このブラウザはパスキー・セキュリティキーを使えません。最新の Chrome・Edge・Safari・Firefox をお使いください。',
    no_name: 'オペレーター名を入力してください。',
    unauthorized: 'サインインできませんでした。オペレーター名と、登録したパスキー・セキュリティキーを確かめてください。',
    ceremony: 'パスキーの確認が完了しませんでした。もう一度お試しください。',
    not_found: 'この登録用リンクはもう使えません。新しいリンクを依頼してください。',
    slow_down: 'このパソコンからの試行が多すぎます。1 分ほど待ってから、もう一度お試しください。',
    default: '処理できませんでした。しばらく待ってから、もう一度お試しください。',
  };
  const button = document.getElementById('go');
  const failed = document.getElementById('failed');
  const live = document.getElementById('live');
  const mode = root.dataset.mode;
  const doButton = document.getElementById('do');
  const say = (text) => {
    document.getElementById('failed-message').textContent = text;
    failed.hidden = false;
    if (live) live.textContent = text;
    button.disabled = false;
    button.focus();
  };
  const refused = (body) => say(MESSAGES[body && body.error] || MESSAGES.default);
  const publicKey = (o) => (o && o.publicKey ? o.publicKey : o);
  if (!window.PublicKeyCredential || !navigator.credentials) {
    say(MESSAGES.unsupported);
    button.disabled = true;
    return;
  }
  // The revocation's submit (and approving one) waits for the fresh assertion.
  const waiting = [doButton, ...document.querySelectorAll('button.needs-reauth')].filter(Boolean);
  if (mode === 'reauth') waiting.forEach((b) => { b.disabled = true; });

  let options = null;
  let optionsFor = null;
  const fetchOptions = async (path, body) => {
    const res = await post(path, body);
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error('refused'), { body: json });
    return json;
  };
  const optionsPath = mode === 'enrol'
    ? `/admin/enrol/${encodeURIComponent(root.dataset.link)}/options`
    : mode === 'login' ? '/admin/login/options' : '/admin/reauth/options';
  const prefetch = async () => {
    try {
      if (mode === 'login') {
        const name = document.getElementById('name').value.trim();
        if (!name) return;
        options = await fetchOptions(optionsPath, { name });
        optionsFor = name;
      } else {
        options = await fetchOptions(optionsPath, {});
      }
    } catch (e) {
      options = null;
    }
  };
  if (mode === 'login') {
    let timer = null;
    document.getElementById('name').addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(prefetch, 300);
    });
  } else {
    prefetch();
  }

  button.addEventListener('click', async () => {
    failed.hidden = true;
    button.disabled = true;
    const name = mode === 'login' ? document.getElementById('name').value.trim() : null;
    if (mode === 'login' && !name) return say(MESSAGES.no_name);
    try {
      if (!options || (mode === 'login' && optionsFor !== name)) {
        options = await fetchOptions(optionsPath, mode === 'login' ? { name } : {});
      }
      const ceremony = mode === 'enrol'
        ? navigator.credentials.create({ publicKey: creationOptions(publicKey(options)) })
        : navigator.credentials.get({ publicKey: requestOptions(publicKey(options)) });
      options = null;
      const cred = await ceremony.catch(() => null);
      if (!cred) {
        prefetch();
        return say(MESSAGES.ceremony);
      }
      let res;
      if (mode === 'enrol') {
        res = await post(`/admin/enrol/${encodeURIComponent(root.dataset.link)}/finish`, credentialJSON(cred));
      } else if (mode === 'login') {
        res = await post('/admin/login/finish', { name, credential: credentialJSON(cred) });
      } else {
        res = await post('/admin/reauth/finish', credentialJSON(cred));
      }
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        prefetch();
        return refused(body);
      }
      if (mode === 'reauth') {
        button.hidden = true;
        const done = document.getElementById('reauth-done');
        done.hidden = false;
        if (live) live.textContent = done.textContent;
        waiting.forEach((b) => { b.disabled = false; });
        if (waiting.length) waiting[0].focus();
        return;
      }
      window.location.assign(body.next);
    } catch (e) {
      prefetch();
      refused(e && e.body);
    }
  });
})();
