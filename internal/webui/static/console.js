// Progressive enhancement only: every page works without this file.
// Forms marked data-confirm ask before they are sent.
document.addEventListener("submit", function (ev) {
  var f = ev.target;
  if (f instanceof HTMLFormElement && f.dataset.confirm && !window.confirm(f.dataset.confirm)) {
    ev.preventDefault();
  }
});
