// SalesOS dashboard behaviour that htmx attributes do not cover.
// Keep the CSRF token on forms that htmx boosts or that are added to the page later.
document.addEventListener("htmx:configRequest", function (evt) {
  var token = document.body.dataset.csrf;
  if (token) { evt.detail.headers["X-CSRF-Token"] = token; }
});
