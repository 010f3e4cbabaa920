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

  // The eye buttons work only with JavaScript: they are hidden in the page and shown here.
  function showEyes(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("button.eye[hidden]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("htmx:load", function (event) { showEyes(event.target); });

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

  // After a swap, move focus to the first field that needs the user. This waits for
  // htmx:afterSettle: only then has htmx wired up the new content (hx-post and the like), so a
  // keystroke sent straight away goes through htmx, not a plain submission.
  // htmx fires the event on what holds the new content: the target itself for an inner swap,
  // each new root element for an outerHTML swap (event.detail.target is then the old, detached
  // element, so it cannot be used to find the new fields).
  var EDITABLE = "input:not([type=hidden]):not([disabled]):not([readonly]), select:not([disabled]), textarea:not([disabled]):not([readonly])";

  function isField(elt) {
    return !!(elt && elt.matches && elt.matches("input, select, textarea"));
  }

  function focusAfterSwap(event) {
    var fragment = event.target;
    var detail = event.detail || {};
    // detail.elt is where this event fires; the element that made the request is in requestConfig.
    var requester = detail.requestConfig && detail.requestConfig.elt;
    if (!fragment || !fragment.isConnected || !fragment.querySelector) return;
    if (isField(requester)) return;  // live checks while typing (password checklist) keep the focus
    var active = document.activeElement;
    // A poll (the lock countdown) must not pull the focus from wherever the user went.
    if (active && active !== document.body && !(requester && requester.contains(active)) && !fragment.contains(active)) return;
    if (fragment.matches("dialog") || fragment.querySelector("dialog")) return;  // the dialog focuses itself
    var scope = fragment.querySelector(EDITABLE) ? fragment
      : (fragment.closest("form") || fragment.querySelector("form") || fragment);
    var field = null;
    var error = fragment.querySelector("#login-error");
    var password = scope.querySelector("#password");
    if (error && error.dataset.error === "invalid" && password) {
      password.value = "";  // the password was wrong: type it again
      field = password;
    }
    var alert = fragment.matches("[role=alert]") ? fragment : fragment.querySelector("[role=alert]");
    if (!field && alert) field = scope.querySelector("[aria-invalid=true]:not([disabled])");
    if (!field) {
      var fields = Array.prototype.slice.call(scope.querySelectorAll(EDITABLE));
      field = fields.filter(function (f) { return !f.value; })[0] || fields[0] || null;
    }
    if (!field) {
      // Nothing to type (lock messages): focus the message itself so reading goes on from there.
      field = alert || fragment.querySelector("h1, h2") || fragment;
      if (!field.hasAttribute("tabindex")) field.setAttribute("tabindex", "-1");
    }
    field.focus();
  }

  // Live checks (the password checklist) fire after a delay; once their form is being sent,
  // or the page is leaving for the next one, a late check would only answer for a step that
  // is gone (404): it is not sent.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!isField(elt)) {
      if (elt && elt.tagName === "FORM") elt.setAttribute("data-sending", "");
      return;
    }
    if (document.documentElement.hasAttribute("data-leaving") || (elt.form && elt.form.hasAttribute("data-sending"))) {
      event.preventDefault();
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    var xhr = event.detail && event.detail.xhr;
    if (!elt || elt.tagName !== "FORM") return;
    elt.removeAttribute("data-sending");
    if (xhr && xhr.getResponseHeader("HX-Redirect")) document.documentElement.setAttribute("data-leaving", "");
  });

  document.addEventListener("htmx:afterSettle", focusAfterSwap);
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
  onReady(function () { startCountdowns(document); showEyes(document); });
})();
