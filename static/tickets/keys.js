// Keyboard shortcuts of the queue and the ticket page. `?` lists them. They never fire while
// typing in a field or with Ctrl/Alt/Meta held; without JavaScript every page works by mouse.
(function () {
  "use strict";

  function typing(event) {
    var target = event.target;
    if (!target || !target.closest) {
      return false;
    }
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#ticket-queue tbody tr[id^=ticket-row-]"));
  }

  function currentRow() {
    return document.querySelector("#ticket-queue tbody tr.kb-current");
  }

  function moveRow(step) {
    var all = rows();
    if (!all.length) {
      return;
    }
    var index = all.indexOf(currentRow());
    var next = all[Math.min(Math.max(index + step, 0), all.length - 1)];
    if (index === -1) {
      next = all[0];
    }
    all.forEach(function (row) {
      row.classList.remove("kb-current");
      row.removeAttribute("aria-current");
    });
    next.classList.add("kb-current");
    next.setAttribute("aria-current", "true");
    next.scrollIntoView({ block: "nearest" });
  }

  function rowLink(row) {
    return row && row.querySelector("td.number a");
  }

  function assignToMe(row) {
    var form = document.getElementById("bulk-form");
    if (!form || !row) {
      return;
    }
    var selected = form.querySelectorAll("#ticket-queue input[name=ids]:checked");
    if (!selected.length) {
      var box = row.querySelector("input[name=ids]");
      if (box) {
        box.checked = true;
      }
    }
    form.querySelector("[name=action]").value = "assign";
    form.querySelector("[name=assignee]").value = form.getAttribute("data-me");
    form.requestSubmit();
  }

  function focusReply(internal) {
    var form = document.getElementById("reply-form");
    if (!form) {
      return;
    }
    var box = form.querySelector("[name=internal]");
    if (box) {
      box.checked = internal;
    }
    form.querySelector("textarea[name=body]").focus();
  }

  function focusField(selector) {
    var field = document.querySelector(selector);
    if (field) {
      field.scrollIntoView({ block: "center" });
      field.focus();
    }
  }

  function help() {
    var dialog = document.getElementById("shortcut-help");
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
  }

  var QUEUE = {
    j: function () { moveRow(1); },
    k: function () { moveRow(-1); },
    x: function () {
      var box = currentRow() && currentRow().querySelector("input[name=ids]");
      if (box) {
        box.checked = !box.checked;
      }
    },
    o: function () {
      var link = rowLink(currentRow());
      if (link) {
        link.click();
      }
    },
    Enter: function () { QUEUE.o(); },
    "/": function () { focusField(".filters input[name=search]"); },
    a: function () { assignToMe(currentRow()); },
  };
  var TICKET = {
    r: function () { focusReply(false); },
    n: function () { focusReply(true); },
    m: function () { focusField("#macro-search"); },
    s: function () { focusField("#status-form select[name=status]"); },
  };

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) {
      return;
    }
    if (event.key === "Escape") {
      var open = document.querySelector("dialog[open]");
      if (open) {
        open.close();
      }
      return;
    }
    if (typing(event)) {
      return;
    }
    if (event.key === "Enter" && document.activeElement && document.activeElement !== document.body) {
      return; // Enter on a focused link or button does what it always does
    }
    if (event.key === "?") {
      event.preventDefault();
      help();
      return;
    }
    var keys = document.getElementById("ticket-queue") ? QUEUE : document.getElementById("reply-form") ? TICKET : null;
    var action = keys && keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
})();
