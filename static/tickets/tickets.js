// Ticket pages: small enhancements. Every page works without them.
(function () {
  "use strict";

  // A refused change (400 bad input, 409 stale version or illegal move) comes back as HTML
  // explaining why; show it in place instead of dropping it as an error.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var source = event.target;
    if ((status === 400 || status === 409) && source && source.closest && source.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Presence: typing in a change form marks you as "editing" for the next ping.
  function editingFlag() {
    return document.getElementById("presence-editing");
  }
  document.addEventListener("input", function (event) {
    var flag = editingFlag();
    if (flag && event.target.closest && event.target.closest("[data-edit-form]")) {
      flag.value = "1";
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var flag = editingFlag();
    var source = event.target;
    if (flag && event.detail.successful && source.matches && source.matches("[data-edit-form]")) {
      flag.value = "0";
    }
  });

  // After a bulk action went through, clear the selection (row checkboxes survive the
  // table's refreshes through hx-preserve, so they are cleared here, on purpose).
  document.addEventListener("htmx:afterSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (source && source.id === "bulk-form" && event.detail.xhr.status === 200) {
      document.querySelectorAll("#ticket-queue input[type=checkbox]").forEach(function (box) {
        box.checked = false;
      });
    }
  });

  // A search box filtering a <select> (the macro picker): options not matching are hidden
  // and the first match is selected, so typing then Enter previews it.
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-filter-select]")) {
      return;
    }
    var select = document.querySelector(box.getAttribute("data-filter-select"));
    if (!select) {
      return;
    }
    var words = box.value.toLowerCase().trim();
    var first = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var match = !words || option.text.toLowerCase().indexOf(words) !== -1;
      option.hidden = !match;
      if (match && first === null) {
        first = option;
      }
    });
    if (first) {
      select.value = first.value;
    }
  });

  // The work log timer: Start counts from now (kept across reloads of this ticket's page),
  // Stop writes the minutes into the form's "time spent" box. Without it, type the time.
  function timerKey() {
    return "itsm-timer:" + location.pathname;
  }
  function showTimer(button) {
    var started = sessionStorage.getItem(timerKey());
    button.hidden = false;
    button.textContent = started ? button.getAttribute("data-stop-label") : button.getAttribute("data-start-label");
    button.classList.toggle("running", Boolean(started));
  }
  function setUpTimers(root) {
    (root || document).querySelectorAll("[data-timer]").forEach(function (button) {
      if (!button.getAttribute("data-start-label")) {
        button.setAttribute("data-start-label", button.textContent);
        button.setAttribute("data-stop-label", button.getAttribute("data-stop") || "Stop");
      }
      showTimer(button);
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-timer]");
    if (!button) {
      return;
    }
    var started = sessionStorage.getItem(timerKey());
    if (started) {
      var minutes = Math.max(1, Math.round((Date.now() - Number(started)) / 60000));
      var target = button.form && button.form.querySelector("[data-timer-target]");
      if (target) {
        target.value = minutes + "m";
        target.focus();
      }
      sessionStorage.removeItem(timerKey());
    } else {
      sessionStorage.setItem(timerKey(), String(Date.now()));
    }
    showTimer(button);
  });
  document.addEventListener("DOMContentLoaded", function () {
    setUpTimers(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    setUpTimers(event.target);
  });
})();
