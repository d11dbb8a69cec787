// A form whose good answer is a download (the desk key file): the browser stays on this page,
// so once the form is sent, the errors of an earlier refusal and the typed passwords go. A new
// refusal comes back as a new page with its own errors.
for (const form of document.querySelectorAll("form[data-download]")) {
  form.addEventListener("submit", () => {
    // After the submit event the browser has already taken the form's values.
    setTimeout(() => {
      for (const error of document.querySelectorAll(".field-error, .flash.error")) error.remove();
      for (const input of form.querySelectorAll("[aria-invalid]")) {
        input.removeAttribute("aria-invalid");
        const hint = document.getElementById(`${input.id}-hint`);
        if (hint) input.setAttribute("aria-describedby", hint.id);
        else input.removeAttribute("aria-describedby");
      }
      for (const input of form.querySelectorAll("input[type=password]")) input.value = "";
    }, 0);
  });
}
