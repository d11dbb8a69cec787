// After a refused form: the focus on its first field in error, scrolled into view, so that
// whoever sent it (on a phone too) lands where the first correction is. The banner at the top
// (role="alert") says how many there are.
const first = document.querySelector('form [aria-invalid="true"]');
if (first) {
  first.scrollIntoView({ block: "center" });
  first.focus({ preventScroll: true });
} else {
  const warning = document.querySelector("[data-focus-on-load]");
  if (warning) {
    warning.scrollIntoView({ block: "center" });
    warning.focus({ preventScroll: true });
  }
}
