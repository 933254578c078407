// Tessera console: the copy button of secrets shown once. Everything else works without it.
document.addEventListener('click', function (e) {
  var b = e.target.closest('[data-copy]');
  if (!b) return;
  var field = document.getElementById(b.getAttribute('data-copy'));
  if (!field) return;
  var done = function () { b.textContent = 'Copied'; };
  var fallback = function () { field.select(); document.execCommand('copy'); done(); };
  if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done, fallback); } else { fallback(); }
});
