// Where an action's outcome is written: a status line right after the button (or group) that caused it,
// so the answer shows where the person is looking, on a phone too.

export function resultNear(button) {
  let status = button.nextElementSibling;
  if (!status || !status.classList.contains("action-result")) {
    status = document.createElement("span");
    status.className = "action-result";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    button.after(status);
  }
  return status;
}

export function showResult(button, text, isError = false) {
  const status = resultNear(button);
  status.textContent = text;
  status.classList.toggle("error", isError);
}
