// The studio's own script (everything else is server-rendered; htmx swaps the parts that update in place).
// Long work shows it: a form being sent shows its "…ing" note, says it is busy, and its buttons wait, so a second
// click cannot send it twice. Coming back to the page (the browser's back button) makes the form usable again.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || event.defaultPrevented) return;
  form.classList.add("busy");
  form.setAttribute("aria-busy", "true");
  // after this event: the button that sent the form has given its name and value already
  setTimeout(() => form.querySelectorAll("button").forEach((b) => { b.disabled = true; }), 0);
});
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  document.querySelectorAll("form.busy").forEach((form) => {
    form.classList.remove("busy");
    form.removeAttribute("aria-busy");
    form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  });
});
