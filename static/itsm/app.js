// Small progressive enhancements; every page works without them.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined) {
    target.form.requestSubmit();
  }
  // "select all" checkbox for list rows
  if (target instanceof HTMLInputElement && target.dataset.selectAll !== undefined) {
    document.querySelectorAll(target.dataset.selectAll).forEach((box) => { box.checked = target.checked; });
  }
});
