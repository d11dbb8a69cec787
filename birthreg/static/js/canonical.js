// RFC 8785 JSON Canonicalization Scheme: the bytes the phone signs. The same rules as
// signing/canonical.py on the server: object members sorted by their names' UTF-16 code units,
// no whitespace, strings escaped as ECMAScript's JSON.stringify does, numbers in ECMAScript's
// shortest form; lone surrogates and non-finite numbers refused (the server refuses them too).
// Every JavaScript number is an IEEE 754 double, which is what RFC 8785 serialises, so a large
// integer here is the same double that the server reads from JSON text.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export class CanonicalizationError extends Error {}

function serialize(value, depth) {
  if (depth > 256) throw new CanonicalizationError("nested too deep");
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalizationError("NaN and infinities are not JSON");
      // ECMAScript's Number-to-String is exactly RFC 8785's number form (-0 becomes 0).
      return JSON.stringify(value);
    case "string":
      if (LONE_SURROGATE.test(value)) throw new CanonicalizationError("a lone surrogate");
      return JSON.stringify(value);
    case "object":
      if (Array.isArray(value)) {
        return "[" + value.map((item) => serialize(item, depth + 1)).join(",") + "]";
      }
      return (
        "{" +
        Object.keys(value)
          .sort() // default sort: UTF-16 code units, as RFC 8785 section 3.2.3 asks
          .map((key) => {
            if (LONE_SURROGATE.test(key)) throw new CanonicalizationError("a lone surrogate");
            return JSON.stringify(key) + ":" + serialize(value[key], depth + 1);
          })
          .join(",") +
        "}"
      );
    default:
      throw new CanonicalizationError(`${typeof value} is not JSON`);
  }
}

/** The canonical text of a JSON value. */
export function canonicalText(value) {
  return serialize(value, 0);
}

/** The canonical UTF-8 bytes of a JSON value (what is signed). */
export function canonicalize(value) {
  return new TextEncoder().encode(canonicalText(value));
}
