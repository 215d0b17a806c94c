// Copies the page's address so it can be pasted into Safari / Chrome.
(() => {
  const button = document.getElementById('copy-url');
  if (!button) return;
  button.addEventListener('click', async () => {
    const url = button.dataset.url;
    try {
      await navigator.clipboard.writeText(url);
    } catch {
      const source = document.getElementById('copy-source');
      source.select();
      document.execCommand('copy');
    }
    document.getElementById('copy-done').hidden = false;
  });
})();
