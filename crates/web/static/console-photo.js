// The console's face-photo upload on a holder's page: the chosen file's bytes go to the server
// as they are (it checks and re-encodes them, as the CLI and the API do); a refusal is said
// next to the button, a success reloads the page with its notice.
(() => {
  const root = document.getElementById('photo-upload');
  if (!root) return;
  const EN = document.documentElement.lang === 'en';
  const input = document.getElementById('photo-file');
  const button = document.getElementById('photo-go');
  const failed = document.getElementById('photo-failed');
  const message = document.getElementById('photo-failed-message');
  const say = (text) => {
    message.textContent = text;
    failed.hidden = false;
    button.disabled = false;
    button.focus();
  };
  button.addEventListener('click', async () => {
    failed.hidden = true;
    const file = input.files && input.files[0];
    if (!file) {
      say(EN ? 'Choose a JPEG or PNG file first.' : '先に JPEG または PNG のファイルを選んでください。');
      input.focus();
      return;
    }
    button.disabled = true;
    let res;
    try {
      res = await fetch(root.dataset.path, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'Content-Type': file.type || 'application/octet-stream',
          'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content,
        },
        body: file,
      });
    } catch (e) {
      say(EN ? 'The upload did not reach the server. Try again.' : 'アップロードがサーバーに届きませんでした。もう一度お試しください。');
      return;
    }
    const body = await res.json().catch(() => ({}));
    if (res.ok && body.next) {
      window.location.assign(body.next);
      return;
    }
    const detail = body.error_description || '';
    say((EN ? 'The photo was not set: ' : '顔写真を登録できませんでした：') + detail);
  });
})();
