// Small helpers for the phone pages: translated messages come from the page itself
// (<div id="messages" hidden><p data-message="code">…</p></div>), so that scripts hold no text.

export function message(code) {
  const element =
    document.querySelector(`#messages [data-message="${CSS.escape(code)}"]`) ||
    document.querySelector('#messages [data-message="failed"]');
  return element ? element.textContent.trim() : code;
}

export function show(element, text, kind) {
  element.textContent = text;
  element.hidden = false;
  element.classList.remove("ok", "error");
  if (kind) element.classList.add(kind);
}

export async function postJSON(url, body, csrfToken) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = {};
  try {
    data = await response.json();
  } catch (error) {
    data = { error: `http_${response.status}` };
  }
  return { ok: response.ok, status: response.status, data };
}
