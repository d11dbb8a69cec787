// Sign in with the key on this phone: ask for a challenge, sign its RFC 8785 form (detached
// JWS), and get a key-holder session (an HttpOnly cookie) and its CSRF value.

import { canonicalize } from "./canonical.js";
import { signDetached } from "./jws.js";
import { loadKey, webCryptoAvailable } from "./keystore.js";
import { postJSON } from "./ui.js";

export class SignInError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

export async function signIn() {
  if (!webCryptoAvailable()) throw new SignInError("no_webcrypto");
  const record = await loadKey();
  if (!record) throw new SignInError("no_key");
  const asked = await postJSON("/api/v1/parents/challenge", {});
  if (!asked.ok) throw new SignInError(asked.data.error || "failed");
  const challenge = asked.data.challenge;
  const signature = await signDetached(record, canonicalize(challenge));
  const opened = await postJSON("/api/v1/parents/session", {
    challenge,
    signature: { format: "jws", value: signature },
  });
  if (!opened.ok) throw new SignInError(opened.data.error || "failed");
  return opened.data;
}
