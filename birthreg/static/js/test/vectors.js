// RFC 8785's examples that apply to the document shapes signed here (sections 3.2.2 and 3.2.3,
// and appendix B's numbers), plus base64url round trips. The result goes to <body data-result>:
// "pass", or "fail" with the failures in #log.

import { canonicalText } from "../canonical.js";
import { base64url, base64urlToBytes, utf8 } from "../b64.js";

const vectors = [
  {
    name: "RFC 8785 3.2.2 (values)",
    input:
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
      ' "literals": [null, true, false]}',
    expected:
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  },
  {
    name: "RFC 8785 3.2.3 (sorting by UTF-16 code units)",
    input:
      '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh",' +
      ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",' +
      ' "\\u00f6": "Latin Small Letter O With Diaeresis"}',
    expected:
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
      '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  },
  { name: "RFC 8785 B (zero)", input: "[0, -0, 1, -1]", expected: "[0,0,1,-1]" },
  { name: "RFC 8785 B (largest safe integer)", input: "[9007199254740991]", expected: "[9007199254740991]" },
  { name: "RFC 8785 B (1e21)", input: "[1e21, 1e-7, 123e-9]", expected: "[1e+21,1e-7,1.23e-7]" },
  {
    name: "nested objects and Kazakh letters",
    input: '{"b": {"z": null, "a": [{"y": "Әбілқасымова", "x": "ұлы"}]}, "a": "қызы"}',
    expected: '{"a":"қызы","b":{"a":[{"x":"ұлы","y":"Әбілқасымова"}],"z":null}}',
  },
];

const log = document.getElementById("log");
const failures = [];
for (const vector of vectors) {
  const actual = canonicalText(JSON.parse(vector.input));
  if (actual !== vector.expected) failures.push(`${vector.name}: ${actual}`);
}
for (const text of ["", "f", "fo", "foo", "foob", "fooba", "foobar", "Әйел ұлы"]) {
  const bytes = utf8(text);
  const back = new TextDecoder().decode(base64urlToBytes(base64url(bytes)));
  if (back !== text) failures.push(`base64url round trip of ${JSON.stringify(text)}`);
}
if (base64url(new Uint8Array([0xfb, 0xff, 0xfe])) !== "-__-") failures.push("base64url alphabet");
let refused = 0;
for (const bad of [[NaN], [Infinity], ["\ud800"], [undefined]]) {
  try {
    canonicalText(bad);
  } catch (error) {
    refused += 1;
  }
}
if (refused !== 4) failures.push("non-JSON values were not refused");
log.textContent = failures.length ? failures.join("\n") : "all vectors pass";
document.body.dataset.result = failures.length ? "fail" : "pass";
