// Open the PKCS#12 key file from the ward's desk in this page with PKI.js: the file's MAC checked
// with the password, the key bag and the certificate bag decrypted (the desk writes PBES2 with
// PBKDF2-HMAC-SHA256 and AES-256-CBC, which WebCrypto does), the key imported as a CryptoKey
// that cannot be exported. Nothing of the file or the key is sent or stored: the record lives
// as long as the page, and signs with jws.js exactly as the key made on a phone does.

import { PFX } from "../vendor/pkijs/pkijs.js";
import { bytesToBase64, utf8 } from "./b64.js";

export class KeyFileError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

const MAX_KEY_FILE_BYTES = 64 * 1024;
const SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2";
const CERT_BAG = "1.2.840.113549.1.12.10.1.3";
const X509_CERTIFICATE = "1.2.840.113549.1.9.22.1";
const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" };
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" };

function pem(certificate) {
  const base64 = bytesToBase64(new Uint8Array(certificate.toSchema().toBER(false)));
  const lines = base64.match(/.{1,64}/g).join("\n");
  return `-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----\n`;
}

function sameBytes(left, right) {
  const a = new Uint8Array(left);
  const b = new Uint8Array(right);
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function nameBytes(name) {
  return name.toSchema().toBER(false);
}

/** The safe bags of the file, decrypted with the password. Refuses a wrong password
 * (the MAC does not match) and encryption WebCrypto cannot do (old 3DES or RC2 files). */
async function safeBags(bytes, password) {
  let pfx;
  try {
    pfx = PFX.fromBER(bytes);
  } catch (error) {
    throw new KeyFileError("not_a_key_file");
  }
  if (!pfx.macData) throw new KeyFileError("not_a_key_file");
  try {
    await pfx.parseInternalValues({ password, checkIntegrity: true });
  } catch (error) {
    throw new KeyFileError(
      /Integrity/.test(String(error && error.message)) ? "wrong_password" : "not_a_key_file",
    );
  }
  const authenticated = pfx.parsedValue.authenticatedSafe;
  try {
    await authenticated.parseInternalValues({
      safeContents: authenticated.safeContents.map(() => ({ password })),
    });
  } catch (error) {
    throw new KeyFileError("unsupported_key_file");
  }
  return authenticated.parsedValue.safeContents.flatMap((content) => content.value.safeBags);
}

async function privateKeyOf(bag, password) {
  try {
    await bag.bagValue.parseInternalValues({ password });
  } catch (error) {
    throw new KeyFileError("unsupported_key_file");
  }
  const keyInfo = bag.bagValue.parsedValue;
  if (!keyInfo || keyInfo.privateKeyAlgorithm.algorithmId !== EC_PUBLIC_KEY) {
    throw new KeyFileError("unsupported_key_file");
  }
  const pkcs8 = new Uint8Array(keyInfo.toSchema().toBER(false));
  try {
    return await crypto.subtle.importKey("pkcs8", pkcs8, ECDSA_P256, false, ["sign"]);
  } catch (error) {
    throw new KeyFileError("unsupported_key_file");
  } finally {
    pkcs8.fill(0);
  }
}

/** The certificate whose public key verifies what the private key signed. */
async function certificateOf(privateKey, certificates) {
  const probe = utf8("birthreg key file: which certificate is this key's?");
  const signature = await crypto.subtle.sign(ECDSA_SHA256, privateKey, probe);
  for (const certificate of certificates) {
    try {
      const spki = certificate.subjectPublicKeyInfo.toSchema().toBER(false);
      const publicKey = await crypto.subtle.importKey("spki", spki, ECDSA_P256, false, ["verify"]);
      if (await crypto.subtle.verify(ECDSA_SHA256, publicKey, signature, probe)) return certificate;
    } catch (error) {
      // Not a P-256 certificate: not this key's.
    }
  }
  throw new KeyFileError("key_mismatch");
}

/** The signer's issuers from the file, nearest first, without a self-issued root (the
 * service has its own trust anchor), as a phone key's chain is. */
function chainOf(signer, certificates) {
  const chain = [];
  let current = signer;
  for (;;) {
    const issuer = certificates.find(
      (candidate) =>
        candidate !== current &&
        !chain.includes(candidate) &&
        sameBytes(nameBytes(candidate.subject), nameBytes(current.issuer)),
    );
    if (!issuer || sameBytes(nameBytes(issuer.subject), nameBytes(issuer.issuer))) return chain;
    chain.push(issuer);
    current = issuer;
  }
}

/** Open a key file (ArrayBuffer) with its password: a record {keyPair: {privateKey},
 * certificatePem, chainPem} that jws.js signs with. Throws KeyFileError with the code
 * not_a_key_file, wrong_password, unsupported_key_file or key_mismatch. */
export async function openKeyFile(bytes, passwordText) {
  if (!bytes.byteLength || bytes.byteLength > MAX_KEY_FILE_BYTES) {
    throw new KeyFileError("not_a_key_file");
  }
  const password = utf8(passwordText).buffer;
  const bags = await safeBags(bytes, password);
  const keyBags = bags.filter((bag) => bag.bagId === SHROUDED_KEY_BAG);
  const certificates = bags
    .filter((bag) => bag.bagId === CERT_BAG && bag.bagValue.certId === X509_CERTIFICATE)
    .map((bag) => bag.bagValue.parsedValue)
    .filter(Boolean);
  if (keyBags.length !== 1 || !certificates.length) throw new KeyFileError("not_a_key_file");
  const privateKey = await privateKeyOf(keyBags[0], password);
  const signer = await certificateOf(privateKey, certificates);
  return {
    keyPair: { privateKey },
    certificatePem: pem(signer),
    chainPem: chainOf(signer, certificates).map(pem).join(""),
  };
}

/** The chosen file of an <input type=file> as an ArrayBuffer (or a KeyFileError). */
export async function readChosenFile(input) {
  const file = input.files && input.files[0];
  if (!file) throw new KeyFileError("no_file");
  if (file.size > MAX_KEY_FILE_BYTES) throw new KeyFileError("not_a_key_file");
  return file.arrayBuffer();
}
