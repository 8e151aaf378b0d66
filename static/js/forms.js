// Start a Space: a live character count for the title (the limit itself is the server's).
for (const input of document.querySelectorAll("input[data-counter]")) {
  const out = document.getElementById(input.dataset.counter);
  const max = Number(input.getAttribute("maxlength")) || 0;
  const update = () => {
    if (!out || !max) return;
    const left = max - input.value.length;
    out.textContent = left <= 20 ? `${left} left` : "";
  };
  input.addEventListener("input", update);
  update();
}

// A form sent once (`<form data-submit-once>`): a double click on its submit button sends one
// request, not two. The server is the real guard (the same Space scheduled twice at once is one
// Space: scheduling/services/schedule.py); this spares the second request and shows the click
// was taken. The buttons are disabled just after the submit event, once the browser has read the
// form's fields: a disabled submitter would drop its own name and value from what is sent.
export function submitOnce(form) {
  form.addEventListener("submit", (event) => {
    if (form.dataset.sending) {
      event.preventDefault();
      return;
    }
    form.dataset.sending = "1";
    setTimeout(() => {
      // Another script stopped this submit (and will say why): the form stays usable.
      if (event.defaultPrevented) {
        delete form.dataset.sending;
        return;
      }
      for (const button of form.querySelectorAll("button[type=submit], input[type=submit]")) {
        button.disabled = true;
      }
    }, 0);
  });
}

for (const form of document.querySelectorAll("form[data-submit-once]")) submitOnce(form);

// Back from the history cache, a form sent once can be sent again.
addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  for (const form of document.querySelectorAll("form[data-submit-once]")) {
    delete form.dataset.sending;
    for (const button of form.querySelectorAll("button[type=submit], input[type=submit]")) {
      button.disabled = false;
    }
  }
});
