/* e-Factura Acceso: small behaviours htmx does not cover. No eval, no inline handlers. */
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  // Eye button: reveal / hide the password it controls.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-reveals]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-reveals"));
    if (!input) return;
    var reveal = input.type === "password";
    input.type = reveal ? "text" : "password";
    button.setAttribute("aria-pressed", reveal ? "true" : "false");
    var label = reveal ? "Ocultar contraseña" : "Mostrar contraseña";
    button.setAttribute("aria-label", label);
    button.title = label;
    var icon = button.querySelector("img");
    if (icon) icon.src = icon.src.replace(reveal ? "eye.svg" : "eye-off.svg", reveal ? "eye-off.svg" : "eye.svg");
  });

  // Caps Lock warning on password fields.
  function capsLock(event) {
    if (!event.getModifierState || !event.target.matches || !event.target.matches("input[type=password], input[data-password]")) return;
    var warning = document.getElementById("caps-warning");
    if (warning) warning.hidden = !event.getModifierState("CapsLock");
  }
  document.addEventListener("keydown", capsLock);
  document.addEventListener("keyup", capsLock);

  // Lockout countdown: ticks every second; htmx brings the form back when it reaches zero.
  function startCountdowns(root) {
    var spans = (root.querySelectorAll ? root : document).querySelectorAll(".countdown[data-seconds]");
    spans.forEach(function (span) {
      if (span.dataset.started) return;
      span.dataset.started = "1";
      var end = Date.now() + parseInt(span.dataset.seconds, 10) * 1000;
      var timer = setInterval(function () {
        if (!span.isConnected) { clearInterval(timer); return; }
        var left = Math.max(0, Math.round((end - Date.now()) / 1000));
        span.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
        if (left === 0) clearInterval(timer);
      }, 1000);
    });
  }

  // After a swap, move focus to the first field that needs the user.
  function focusAfterSwap(event) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    var form = target.closest("form") || target.querySelector("form") || target;
    var alert = target.querySelector("[role=alert]") || (target.matches("[role=alert]") ? target : null);
    var field = form.querySelector("input[name=captcha]:not([disabled])");
    var error = target.querySelector("#login-error");
    var password = form.querySelector("#password");
    if (error && error.dataset.error === "invalid" && password) {
      password.value = "";  // the password was wrong: type it again
      field = password;
    }
    if (!field && alert) field = form.querySelector("[aria-invalid=true]");
    if (!field) field = form.querySelector("input:not([type=hidden]):not([disabled])");
    if (field) field.focus();
  }

  document.addEventListener("htmx:afterSwap", focusAfterSwap);
  document.addEventListener("htmx:load", function (event) { startCountdowns(event.target); });
  document.addEventListener("htmx:responseError", function () {
    var box = document.getElementById("connection-error");
    if (box) box.hidden = false;
  });
  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("connection-error");
    if (box) box.hidden = false;
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("connection-error");
    if (box) box.hidden = true;
  });
  // The forgot-user notice: a modal dialog when htmx brings it; removed once closed.
  document.addEventListener("htmx:load", function (event) {
    var dialog = event.target.matches && event.target.matches("dialog") ? event.target : null;
    if (!dialog && event.target.querySelector) dialog = event.target.querySelector("dialog:not([open])");
    if (!dialog || dialog.open || typeof dialog.showModal !== "function") return;
    dialog.addEventListener("close", function () { dialog.remove(); }, { once: true });
    dialog.showModal();
  });
  onReady(function () { startCountdowns(document); });
})();
