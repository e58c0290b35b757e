// The upload page without a click on "Parcourir": a file dropped on the frame fills the
// form's file input (nothing is fetched, the form is sent as without the script).
(function () {
  "use strict";
  var zone = document.querySelector("[data-depot]");
  if (zone) {
    var input = zone.querySelector("input[type=file]");
    var hint = zone.querySelector("[data-glisser]");
    if (hint) hint.hidden = false;
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("survol");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("survol"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
      }
    });
  }
  // One click sends once; the page's key already makes a second send harmless.
  document.querySelectorAll("form.une-fois").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
    });
  });
  // Coming back to the page (history): its buttons work again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form.une-fois button").forEach(function (button) {
      button.disabled = false;
    });
  });
})();
