// Detached JWS (RFC 7515 appendix F) with ES256, as signing/jws.py verifies it: the protected
// header is {"alg": "ES256", "x5c": [the certificate, its issuing CA], "sigT": time}, the signing
// input is BASE64URL(header) "." BASE64URL(payload), and the signature is WebCrypto's raw r‖s
// (IEEE P1363, 64 bytes), which is exactly what JWS ES256 wants.

import { base64url, pemCertificates, utf8 } from "./b64.js";

export function signingTime(date = new Date()) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `header..signature` over payload (Uint8Array) with the key record of keystore.js. */
export async function signDetached(record, payload) {
  const x5c = pemCertificates(record.certificatePem + "\n" + record.chainPem);
  const header = { alg: "ES256", x5c, sigT: signingTime() };
  const encodedHeader = base64url(utf8(JSON.stringify(header)));
  const signingInput = utf8(`${encodedHeader}.${base64url(payload)}`);
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, record.keyPair.privateKey, signingInput),
  );
  if (signature.length !== 64) throw new Error("an ES256 signature has 64 bytes");
  return `${encodedHeader}..${base64url(signature)}`;
}
