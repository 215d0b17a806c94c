// The SignIn screen's Username is never left empty or stale: whenever the page is shown (first
// load, reload, Back/Forward from the cache), an empty or changed field gets the holder's
// Username back (the value the server rendered).
(() => {
  'use strict';
  const restore = () => {
    const input = document.getElementById('username');
    if (input && input.value !== input.defaultValue) input.value = input.defaultValue;
  };
  window.addEventListener('pageshow', restore);
  document.addEventListener('DOMContentLoaded', restore);
})();
