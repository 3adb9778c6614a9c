// Ticket deflection: when the new-ticket form showed suggested articles (the #kb-suggestions
// partial from /ai/kb/suggest/ carries a signed token) and the requester leaves the page
// without submitting the form, one beacon tells the server. Loaded once per page; safe to load twice.
(() => {
  if (window.kbDeflectionInstalled) return;
  window.kbDeflectionInstalled = true;

  let submitted = false;
  let sent = false;

  document.addEventListener("submit", (event) => {
    const form = event.target;
    // The new-ticket form: marked with data-kb-deflection-form, or holding the suggestions box.
    if (form instanceof HTMLFormElement
        && (form.matches("[data-kb-deflection-form]") || form.querySelector("#kb-suggestions"))) {
      submitted = true;
    }
  });

  const report = () => {
    if (submitted || sent) return;
    const box = document.querySelector("[data-kb-deflection-token]");
    if (!box || !navigator.sendBeacon) return;
    const data = new FormData();
    data.append("token", box.dataset.kbDeflectionToken);
    data.append("csrfmiddlewaretoken", box.dataset.kbDeflectionCsrf || "");
    sent = navigator.sendBeacon(box.dataset.kbDeflectionUrl, data);
  };

  // pagehide covers closing the tab and navigating away (bfcache included).
  window.addEventListener("pagehide", report);
})();
