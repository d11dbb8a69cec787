// The review page: sign exactly the document shown. The document comes from the page's JSON
// block; its RFC 8785 bytes must hash to the fingerprint shown beside it before the key signs
// them. The server verifies the signature over its own canonical form of the stored document,
// so a document edited in the page is refused there too.

import { base64url, hex } from "./b64.js";
import { canonicalize } from "./canonical.js";
import { signDetached } from "./jws.js";
import { loadKey, webCryptoAvailable } from "./keystore.js";
import { message, postJSON, show } from "./ui.js";

const button = document.getElementById("sign-button");
const errorBox = document.getElementById("sign-error");

async function sign() {
  errorBox.hidden = true;
  button.disabled = true;
  try {
    const record = webCryptoAvailable() ? await loadKey() : null;
    if (!record) {
      show(errorBox, message("no_key"), "error");
      return;
    }
    const document_ = JSON.parse(document.getElementById("application-document").textContent);
    const content = canonicalize(document_);
    const digest = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", content)));
    const shown = document.getElementById("document-fingerprint").dataset.fingerprint;
    // What was signed, for anyone (a test, a curious holder) who wants to compare.
    document.body.dataset.signedSha256 = digest;
    document.body.dataset.signedCanonical = base64url(content);
    if (digest !== shown) {
      show(errorBox, message("changed"), "error");
      return;
    }
    const value = await signDetached(record, content);
    const answer = await postJSON(
      `/api/v1/parents/applications/${encodeURIComponent(button.dataset.application)}/signatures`,
      { signature: { format: "jws", value } },
      button.dataset.csrf,
    );
    if (!answer.ok) {
      show(errorBox, message(answer.data.error || "failed"), "error");
      return;
    }
    window.location.assign(answer.data.url);
  } catch (error) {
    show(errorBox, message("failed"), "error");
  } finally {
    button.disabled = false;
  }
}

button.addEventListener("click", sign);
