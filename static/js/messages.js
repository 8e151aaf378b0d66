// A direct-message thread: the newest message in view, Ctrl/Cmd+Enter sends, and a send
// cannot go twice (the server also treats the same text sent again at once as one message).
// A refused reply puts its reason and the box in view, ready to fix; otherwise, as in any chat,
// the page opens at its end (newest message, then the box), unless a link named a message.
const compose = document.querySelector(".dm-compose");
const refused = compose?.querySelector(".errorlist, .alert-error");
if (refused) {
  compose.scrollIntoView({ block: "end" });
  compose.querySelector("textarea")?.focus();
} else if (compose && !location.hash) {
  compose.scrollIntoView({ block: "end" });
}

for (const form of document.querySelectorAll("form.dm-form")) {
  const box = form.querySelector("textarea");
  box?.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    if (form.dataset.sending) {
      event.preventDefault();
      return;
    }
    form.dataset.sending = "1";
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
  });
}
// Back from the history cache, the form is usable again.
addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form.dm-form")) {
    delete form.dataset.sending;
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = false;
  }
});
