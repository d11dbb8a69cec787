// The QR seal of a birth certificate, checked in the browser: Base45 (RFC 9285) -> zlib when the
// seal was compressed -> COSE_Sign1 (RFC 9052, ES256) over a CBOR map of the key fields, as
// signing/seal.py makes it. WebCrypto checks the signature against the registry's seal
// certificate; nothing here talks to the network.

const BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
const MAX_SEAL_BYTES = 4096;

export class SealError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export function base45Decode(text) {
  if (text.length % 3 === 1) throw new SealError("malformed_seal", "bad Base45 length");
  const out = [];
  for (let i = 0; i < text.length; i += 3) {
    const group = text.slice(i, i + 3);
    let value = 0;
    for (let j = group.length - 1; j >= 0; j--) {
      const digit = BASE45.indexOf(group[j]);
      if (digit < 0) throw new SealError("malformed_seal", "not Base45");
      value = value * 45 + digit;
    }
    if (group.length === 3) {
      if (value > 0xffff) throw new SealError("malformed_seal", "bad Base45 group");
      out.push(value >> 8, value & 0xff);
    } else {
      if (value > 0xff) throw new SealError("malformed_seal", "bad Base45 pair");
      out.push(value);
    }
  }
  return new Uint8Array(out);
}

async function inflate(bytes) {
  // A raw DEFLATE stream (RFC 1951), as signing/seal.py writes for long seals.
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_SEAL_BYTES) throw new SealError("malformed_seal", "seal too long");
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

// A minimal CBOR decoder (RFC 8949) for what a seal holds: unsigned and negative integers,
// byte and text strings, arrays, maps and tags, definite lengths only. Map keys stay numbers.
export function cborDecode(bytes) {
  let position = 0;
  const take = (count) => {
    if (position + count > bytes.length) throw new SealError("malformed_seal", "CBOR truncated");
    const slice = bytes.subarray(position, position + count);
    position += count;
    return slice;
  };
  const argument = (info) => {
    if (info < 24) return info;
    const size = { 24: 1, 25: 2, 26: 4, 27: 8 }[info];
    if (!size) throw new SealError("malformed_seal", "CBOR length not supported");
    let value = 0;
    for (const byte of take(size)) value = value * 256 + byte;
    if (!Number.isSafeInteger(value)) throw new SealError("malformed_seal", "CBOR number too big");
    return value;
  };
  const item = (depth) => {
    if (depth > 8) throw new SealError("malformed_seal", "CBOR nested too deep");
    const initial = take(1)[0];
    const major = initial >> 5;
    const value = argument(initial & 31);
    switch (major) {
      case 0: return value;
      case 1: return -1 - value;
      case 2: return take(value).slice();
      case 3: return new TextDecoder("utf-8", { fatal: true }).decode(take(value));
      case 4: {
        const array = [];
        for (let i = 0; i < value; i++) array.push(item(depth + 1));
        return array;
      }
      case 5: {
        const map = new Map();
        for (let i = 0; i < value; i++) {
          const key = item(depth + 1);
          if (map.has(key)) throw new SealError("malformed_seal", "CBOR key twice");
          map.set(key, item(depth + 1));
        }
        return map;
      }
      case 6: return { tag: value, value: item(depth + 1) };
      default: throw new SealError("malformed_seal", "CBOR type not expected");
    }
  };
  const result = item(0);
  if (position !== bytes.length) throw new SealError("malformed_seal", "bytes after the CBOR");
  return result;
}

function cborHead(major, length) {
  if (length < 24) return [(major << 5) | length];
  if (length < 256) return [(major << 5) | 24, length];
  return [(major << 5) | 25, length >> 8, length & 0xff];
}

function sigStructure(protectedHeader, payload) {
  // ["Signature1", protected, h'', payload] (RFC 9052 section 4.4)
  const context = new TextEncoder().encode("Signature1");
  const parts = [
    [0x84],
    cborHead(3, context.length), context,
    cborHead(2, protectedHeader.length), protectedHeader,
    [0x40],
    cborHead(2, payload.length), payload,
  ];
  const size = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// KZ-1048 (STRK 1048-2002): the names' one-byte encoding; bytes 0x80..0xFF (0x98 is unused).
const KZ1048_HIGH =
  "\u0402\u0403\u201a\u0453\u201e\u2026\u2020\u2021\u20ac\u2030\u0409\u2039\u040a\u049a\u04ba\u040f" +
  "\u0452\u2018\u2019\u201c\u201d\u2022\u2013\u2014\ufffd\u2122\u0459\u203a\u045a\u049b\u04bb\u045f" +
  "\u00a0\u04b0\u04b1\u04d8\u00a4\u04e8\u00a6\u00a7\u0401\u00a9\u0492\u00ab\u00ac\u00ad\u00ae\u04ae" +
  "\u00b0\u00b1\u0406\u0456\u04e9\u00b5\u00b6\u00b7\u0451\u2116\u0493\u00bb\u04d9\u04a2\u04a3\u04af" +
  "\u0410\u0411\u0412\u0413\u0414\u0415\u0416\u0417\u0418\u0419\u041a\u041b\u041c\u041d\u041e\u041f" +
  "\u0420\u0421\u0422\u0423\u0424\u0425\u0426\u0427\u0428\u0429\u042a\u042b\u042c\u042d\u042e\u042f" +
  "\u0430\u0431\u0432\u0433\u0434\u0435\u0436\u0437\u0438\u0439\u043a\u043b\u043c\u043d\u043e\u043f" +
  "\u0440\u0441\u0442\u0443\u0444\u0445\u0446\u0447\u0448\u0449\u044a\u044b\u044c\u044d\u044e\u044f";

export function kz1048Decode(bytes) {
  let text = "";
  for (const byte of bytes) {
    const char = byte < 0x80 ? String.fromCharCode(byte) : KZ1048_HIGH[byte - 0x80];
    if (char === "\ufffd") throw new SealError("malformed_seal", "not KZ-1048");
    text += char;
  }
  return text;
}

// The fields and their keys: the same as FIELD_KEYS in signing/seal.py.
const FIELDS = {
  1: ["certificate_number", "text"],
  2: ["child_iin", "iin"],
  3: ["child_surname", "name"],
  4: ["child_given_name", "name"],
  5: ["child_patronymic", "name"],
  6: ["date_of_birth", "date"],
  7: ["sex", "text"],
  8: ["act_record_number", "int"],
  9: ["act_record_date", "date"],
  10: ["registry_office_code", "text"],
  11: ["issued_on", "date"],
};
const OPTIONAL = new Set(["child_patronymic"]);
const DAY = 86400000;

function readFields(map) {
  if (!(map instanceof Map)) throw new SealError("malformed_seal", "payload is not a map");
  const fields = { child_patronymic: null };
  for (const [key, value] of map) {
    const spec = FIELDS[key];
    if (!spec) throw new SealError("malformed_seal", "unexpected field");
    const [name, kind] = spec;
    if (kind === "name") {
      if (!(value instanceof Uint8Array) || !value.length) throw new SealError("malformed_seal", name);
      fields[name] = kz1048Decode(value);
    } else if (kind === "text") {
      if (typeof value !== "string" || !value) throw new SealError("malformed_seal", name);
      fields[name] = value;
    } else {
      if (!Number.isSafeInteger(value) || value < 0) throw new SealError("malformed_seal", name);
      if (kind === "date") fields[name] = new Date(value * DAY).toISOString().slice(0, 10);
      else if (kind === "iin") {
        if (value >= 1e12) throw new SealError("malformed_seal", name);
        fields[name] = String(value).padStart(12, "0");
      } else fields[name] = value;
    }
  }
  for (const [name] of Object.values(FIELDS)) {
    if (!(name in fields) && !OPTIONAL.has(name)) throw new SealError("malformed_seal", "missing " + name);
  }
  return fields;
}

// --- certificates ----------------------------------------------------------------------------

export function pemToDer(pem) {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new SealError("unknown_key", "no certificate");
  const binary = atob(match[1].replace(/\s+/g, ""));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

// A tiny DER walker: the (tag, start, end) of each element in a constructed value.
function derChildren(bytes, start, end) {
  const children = [];
  let position = start;
  while (position < end) {
    const tag = bytes[position];
    let length = bytes[position + 1];
    let header = 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count < 1 || count > 3) throw new SealError("unknown_key", "bad DER length");
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + bytes[position + 2 + i];
      header += count;
    }
    const valueEnd = position + header + length;
    if (valueEnd > end) throw new SealError("unknown_key", "DER truncated");
    children.push({ tag, start: position, valueStart: position + header, end: valueEnd });
    position = valueEnd;
  }
  return children;
}

export function spkiFromCertificate(der) {
  // Certificate ::= SEQUENCE { tbsCertificate, ... }; tbsCertificate ::= SEQUENCE { [0] version
  // OPTIONAL, serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, ... }
  const [certificate] = derChildren(der, 0, der.length);
  const [tbs] = derChildren(der, certificate.valueStart, certificate.end);
  const fields = derChildren(der, tbs.valueStart, tbs.end);
  const offset = fields[0].tag === 0xa0 ? 1 : 0;
  const spki = fields[offset + 5];
  if (!spki || spki.tag !== 0x30) throw new SealError("unknown_key", "no public key");
  return der.slice(spki.start, spki.end);
}

export async function keyId(der) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return digest.slice(0, 8);
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

// --- the seal ---------------------------------------------------------------------------------

export function sealFromLocation(hash) {
  const text = hash.startsWith("#") ? hash.slice(1) : hash;
  try {
    return decodeURIComponent(text);
  } catch {
    throw new SealError("malformed_seal", "bad URL fragment");
  }
}

// The verified fields of a seal, or a SealError (its code says why). `certificates` holds DER
// certificates that are trusted (the registry's seal certificate).
export async function verifySeal(text, certificates) {
  let bytes = base45Decode(text);
  if (!bytes.length || bytes.length > MAX_SEAL_BYTES) throw new SealError("malformed_seal", "size");
  // A COSE_Sign1 starts with 0xD2 (tag 18); anything else is a compressed seal.
  if (bytes[0] !== 0xd2) bytes = await inflate(bytes);
  const cose = cborDecode(bytes);
  if (!cose || cose.tag !== 18 || !Array.isArray(cose.value) || cose.value.length !== 4) {
    throw new SealError("malformed_seal", "not COSE_Sign1");
  }
  const [protectedHeader, unprotected, payload, signature] = cose.value;
  if (!(protectedHeader instanceof Uint8Array) || !(payload instanceof Uint8Array)
      || !(signature instanceof Uint8Array) || !(unprotected instanceof Map) || unprotected.size) {
    throw new SealError("malformed_seal", "COSE_Sign1 parts");
  }
  const header = cborDecode(protectedHeader);
  if (!(header instanceof Map) || [...header.keys()].some((key) => key !== 1 && key !== 4)) {
    throw new SealError("malformed_seal", "protected header");
  }
  if (header.get(1) !== -7) throw new SealError("unsupported_seal_algorithm", "not ES256");
  const kid = header.get(4);
  if (!(kid instanceof Uint8Array) || kid.length !== 8) throw new SealError("malformed_seal", "kid");
  let signer = null;
  for (const der of certificates) {
    if (sameBytes(await keyId(der), kid)) signer = der;
  }
  if (!signer) throw new SealError("unknown_key", "unknown seal certificate");
  if (signature.length !== 64) throw new SealError("bad_seal_signature", "signature size");
  const key = await crypto.subtle.importKey(
    "spki", spkiFromCertificate(signer), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"],
  );
  const good = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" }, key, signature, sigStructure(protectedHeader, payload),
  );
  if (!good) throw new SealError("bad_seal_signature", "signature does not verify");
  return readFields(cborDecode(payload));
}
