// Sign in with a key: ask for a challenge, sign its RFC 8785 form (detached JWS), and get a
// key-holder session (an HttpOnly cookie) and its CSRF value. The key is the phone's (signIn)
// or one opened from a key file in this page (signInWith).

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

/** Sign in with a key record {keyPair, certificatePem, chainPem}. */
export async function signInWith(record) {
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

/** Sign in with the key kept on this phone. */
export async function signIn() {
  if (!webCryptoAvailable()) throw new SignInError("no_webcrypto");
  const record = await loadKey();
  if (!record) throw new SignInError("no_key");
  return signInWith(record);
}
