// WebAuthn's JSON forms, shared by the registration start screen and the login page: options
// from the server into what navigator.credentials wants, and the credential back into JSON,
// for browsers without the JSON helpers (older Android Chrome, Safari before 18).
(() => {
  'use strict';
  const fromB64u = (s) => {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  };
  const toB64u = (buf) => {
    let s = '';
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const creationOptions = (json) => {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return {
      ...json,
      challenge: fromB64u(json.challenge),
      user: { ...json.user, id: fromB64u(json.user.id) },
      excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromB64u(c.id) })),
    };
  };
  const requestOptions = (json) => {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return {
      ...json,
      challenge: fromB64u(json.challenge),
      allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromB64u(c.id) })),
    };
  };
  const credentialJSON = (cred) => {
    if (typeof cred.toJSON === 'function') return cred.toJSON();
    const r = cred.response;
    const response = { clientDataJSON: toB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64u(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
      if (r.getAuthenticatorData) response.authenticatorData = toB64u(r.getAuthenticatorData());
      if (r.getPublicKey && r.getPublicKey()) response.publicKey = toB64u(r.getPublicKey());
      if (r.getPublicKeyAlgorithm) response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    } else {
      response.authenticatorData = toB64u(r.authenticatorData);
      response.signature = toB64u(r.signature);
      response.userHandle = r.userHandle ? toB64u(r.userHandle) : null;
    }
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      response,
      clientExtensionResults: cred.getClientExtensionResults(),
    };
  };
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
  // The page's states (the sections with data-state under `root`): one shown at a time, and its
  // text announced through the live region #live, which is on the page from the start.
  const screens = (root) => {
    const live = document.getElementById('live');
    const show = (id) => {
      for (const el of root.querySelectorAll('[data-state]')) el.hidden = el.id !== id;
      const shown = document.getElementById(id);
      if (live && shown && id !== 'ready') live.textContent = shown.innerText;
    };
    const fail = (message) => {
      document.getElementById('failed-message').textContent = message;
      show('failed');
    };
    return { show, fail };
  };
  window.hpkiWebAuthn = { creationOptions, requestOptions, credentialJSON, post, screens };
})();
