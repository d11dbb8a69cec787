// The review page: sign exactly the document shown. The document comes from the page's JSON
// block; its RFC 8785 bytes must hash to the fingerprint shown beside it before the key signs
// them. The server verifies the signature over its own canonical form of the stored document,
// so a document edited in the page is refused there too. The key is the phone's, or the key
// file's from the ward's desk opened in this page (keyfile-form.js, loaded only when used).

import { base64url, hex } from "./b64.js";
import { canonicalize } from "./canonical.js";
import { signDetached } from "./jws.js";
import { loadKey, webCryptoAvailable } from "./keystore.js";
import { message, postJSON, show } from "./ui.js";

const button = document.getElementById("sign-button");
const keyFileButton = document.getElementById("key-file-sign-button");
const errorBox = document.getElementById("sign-error");

class Refusal extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

async function signWith(record) {
  const document_ = JSON.parse(document.getElementById("application-document").textContent);
  const content = canonicalize(document_);
  const digest = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", content)));
  const shown = document.getElementById("document-fingerprint").dataset.fingerprint;
  // What was signed, for anyone (a test, a curious holder) who wants to compare.
  document.body.dataset.signedSha256 = digest;
  document.body.dataset.signedCanonical = base64url(content);
  if (digest !== shown) throw new Refusal("changed");
  const value = await signDetached(record, content);
  const answer = await postJSON(
    `/api/v1/parents/applications/${encodeURIComponent(button.dataset.application)}/signatures`,
    { signature: { format: "jws", value } },
    button.dataset.csrf,
  );
  if (!answer.ok) throw new Refusal(answer.data.error || "failed");
  window.location.assign(answer.data.url);
}

async function phoneKey() {
  const record = webCryptoAvailable() ? await loadKey() : null;
  if (!record) throw new Refusal("no_key");
  return record;
}

async function keyFileKey() {
  const { keyFileRecord } = await import("./keyfile-form.js");
  return keyFileRecord(errorBox);
}

async function sign(trigger, key, keyFile) {
  errorBox.hidden = true;
  trigger.disabled = true;
  try {
    await signWith(await key());
  } catch (error) {
    let code = error && typeof error.code === "string" ? error.code : "failed";
    if (keyFile && code === "invalid_signature") code = "foreign_key_file";
    show(errorBox, message(code), "error");
  } finally {
    trigger.disabled = false;
  }
}

button.addEventListener("click", () => sign(button, phoneKey, false));
if (keyFileButton) keyFileButton.addEventListener("click", () => sign(keyFileButton, keyFileKey, true));

// No key on this phone or computer: open the key-file way at once.
if (keyFileButton && !(webCryptoAvailable() && window.indexedDB)) {
  document.getElementById("key-file-fold").open = true;
} else if (keyFileButton) {
  loadKey().then((record) => {
    if (!record) document.getElementById("key-file-fold").open = true;
  }, () => {});
}
