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
