// Switching the language keeps what the page holds. The address's fragment (/verify#…, which
// the server never sees) goes into the switch's `next`; what was typed into the page's forms
// (never passwords, files or hidden values such as CSRF tokens) is kept in this tab's
// sessionStorage for the moment of the switch, put back on the same page in the new language,
// and forgotten at once.

const KEY = "birthreg.language-switch";
const MAX_AGE_MS = 60 * 1000;
const NOT_KEPT = new Set(["password", "file", "hidden", "submit", "button", "reset", "image"]);
const switchForm = document.querySelector("form.lang-switch");

function fields() {
  return Array.from(document.querySelectorAll("main input, main textarea, main select")).filter(
    (field) => (field.name || field.id) && !NOT_KEPT.has(field.type) && !field.disabled,
  );
}

function fieldKey(field) {
  const form = field.form ? field.form.getAttribute("action") || "" : "";
  const choice = field.type === "radio" || field.type === "checkbox" ? field.value : "";
  return `${form}|${field.name || field.id}|${choice}`;
}

function here() {
  return location.pathname + location.search;
}

function keep() {
  const next = switchForm.querySelector('input[name="next"]');
  if (next && location.hash) next.value = next.value.split("#")[0] + location.hash;
  const values = {};
  for (const field of fields()) {
    if (field.type === "radio" || field.type === "checkbox") {
      if (field.checked !== field.defaultChecked) values[fieldKey(field)] = field.checked;
    } else if (field.value !== field.defaultValue) {
      values[fieldKey(field)] = field.value;
    }
  }
  if (!Object.keys(values).length) return;
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ page: here(), at: Date.now(), values }));
  } catch (error) {
    // Storage refused (private mode, quota): the page comes back as the server gives it.
  }
}

function restore() {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    sessionStorage.removeItem(KEY);
  } catch (error) {
    return;
  }
  if (!saved || saved.page !== here() || !(Date.now() - saved.at < MAX_AGE_MS)) return;
  for (const field of fields()) {
    const key = fieldKey(field);
    if (!Object.prototype.hasOwnProperty.call(saved.values, key)) continue;
    if (field.type === "radio" || field.type === "checkbox") field.checked = Boolean(saved.values[key]);
    else field.value = String(saved.values[key]);
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }
}

if (switchForm) switchForm.addEventListener("submit", keep);
restore();
