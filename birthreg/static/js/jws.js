// Detached JWS (RFC 7515 appendix F) with ES256, as signing/jws.py verifies it and as its own
// signer writes it: the protected header is {"alg": "ES256", "kid": the certificate's SHA-256,
// "crit": ["sigT"], "sigT": time, "x5c": [the certificate, its issuing CA]}, the signing input
// is BASE64URL(header) "." BASE64URL(payload), and the signature is WebCrypto's raw r‖s (IEEE
// P1363, 64 bytes), which is exactly what JWS ES256 wants. The key may be the phone's (kept in
// IndexedDB) or one opened from a key file for the page's lifetime (keyfile.js).

import { base64ToBytes, base64url, pemCertificates, utf8 } from "./b64.js";

export function signingTime(date = new Date()) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The `kid` of a certificate (standard base64 DER): base64url of its SHA-256, `x5t#S256`. */
export async function keyId(certificateBase64) {
  const digest = await crypto.subtle.digest("SHA-256", base64ToBytes(certificateBase64));
  return base64url(new Uint8Array(digest));
}

/** `header..signature` over payload (Uint8Array) with a key record {keyPair, certificatePem,
 * chainPem} of keystore.js or keyfile.js. */
export async function signDetached(record, payload) {
  const x5c = pemCertificates(record.certificatePem + "\n" + record.chainPem);
  const header = { alg: "ES256", kid: await keyId(x5c[0]), crit: ["sigT"], sigT: signingTime(), x5c };
  const encodedHeader = base64url(utf8(JSON.stringify(header)));
  const signingInput = utf8(`${encodedHeader}.${base64url(payload)}`);
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, record.keyPair.privateKey, signingInput),
  );
  if (signature.length !== 64) throw new Error("an ES256 signature has 64 bytes");
  return `${encodedHeader}..${base64url(signature)}`;
}
