// The enrollment page: the code from the QR link's fragment (never sent to a server), a new
// non-extractable P-256 key, the proof of possession over "birthreg-enroll:" + the code, the
// certificate kept beside the key, then a session and the holder's page.

import { base64url, bytesToBase64, utf8 } from "./b64.js";
import { generateKey, persist, saveKey, webCryptoAvailable } from "./keystore.js";
import { signIn } from "./session.js";
import { message, postJSON, show } from "./ui.js";

const ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789";
// Cyrillic letters that look exactly like Latin ones, as birthreg/ward/codes.py reads them.
const LOOKALIKES = { А: "A", В: "B", С: "C", Е: "E", Н: "H", К: "K", М: "M", Р: "P", Т: "T", Х: "X", У: "Y", Ѕ: "S" };
const IGNORED = new Set([" ", "-", "\t", "\u00a0", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212"]);

/** LLLL-SSSS-SSSS, or null when the text cannot be a code. */
export function canonicalCode(text) {
  const symbols = Array.from(text.toUpperCase())
    .map((c) => LOOKALIKES[c] || c)
    .filter((c) => !IGNORED.has(c))
    .join("");
  if (symbols.length !== 12 || Array.from(symbols).some((c) => !ALPHABET.includes(c))) return null;
  return `${symbols.slice(0, 4)}-${symbols.slice(4, 8)}-${symbols.slice(8)}`;
}

const form = document.getElementById("enroll-form");
const input = document.getElementById("code");
const codeError = document.getElementById("code-error");
const status = document.getElementById("enroll-status");
const button = document.getElementById("enroll-button");

function fieldError(text) {
  codeError.textContent = text;
  codeError.hidden = false;
  input.setAttribute("aria-invalid", "true");
}

function start() {
  if (!webCryptoAvailable()) {
    document.getElementById("no-webcrypto").hidden = false;
    button.disabled = true;
    return;
  }
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get("code")) {
    input.value = fragment.get("code");
    // The code has done its work in the address bar: keep it out of history and screenshots.
    history.replaceState(null, "", window.location.pathname);
  }
  form.addEventListener("submit", enroll);
}

async function enroll(event) {
  event.preventDefault();
  codeError.hidden = true;
  input.removeAttribute("aria-invalid");
  const code = canonicalCode(input.value);
  if (!code) {
    fieldError(message("invalid_code"));
    return;
  }
  button.disabled = true;
  show(status, message("working"));
  try {
    const keyPair = await generateKey();
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keyPair.publicKey));
    const proof = new Uint8Array(
      await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keyPair.privateKey, utf8(`birthreg-enroll:${code}`)),
    );
    const answer = await postJSON("/api/v1/enroll", {
      code,
      public_key: bytesToBase64(spki),
      proof: base64url(proof),
    });
    if (!answer.ok) {
      const problem = answer.data.error || "failed";
      if (problem === "invalid_code") fieldError(message("invalid_code"));
      show(status, message(problem), "error");
      button.disabled = false;
      return;
    }
    try {
      await saveKey({
        keyPair,
        certificatePem: answer.data.certificate_pem,
        chainPem: answer.data.chain_pem,
        savedAt: new Date().toISOString(),
      });
    } catch (error) {
      show(status, message("storage"), "error");
      return;
    }
    await persist();
    show(status, message("signing_in"), "ok");
    await signIn();
    window.location.assign("/parents");
  } catch (error) {
    show(status, message("failed"), "error");
    button.disabled = false;
  }
}

start();
