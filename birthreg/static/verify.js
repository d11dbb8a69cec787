// The /verify page: checks the seal in the URL fragment against the registry's published seal
// certificate, in this browser, then (when online) asks the registry whether the certificate
// still stands, sending its number only. Works offline once loaded: the seal certificate is
// kept in localStorage, and a new seal (a hash change) is checked without the network.

import { pemToDer, sealFromLocation, verifySeal } from "./js/seal.js";

const STORAGE_KEY = "birthreg.seal-certificate.pem";
const section = document.getElementById("verify");
const verdict = document.getElementById("verdict");
const fieldList = document.getElementById("sealed-fields");
const statusNote = document.getElementById("status-note");
const text = (name) => section.dataset["text" + name] || "";
// A seal names its registry office by code; the page shows the office's name.
const officeNames = JSON.parse(section.dataset.offices || "{}");

let certificates = null;

async function loadCertificates() {
  if (certificates) return certificates;
  let pem = null;
  try {
    const response = await fetch(section.dataset.sealUrl, { cache: "no-cache" });
    if (response.ok) {
      pem = await response.text();
      try { localStorage.setItem(STORAGE_KEY, pem); } catch { /* private mode: no cache */ }
    }
  } catch { /* offline: fall back to the copy kept */ }
  if (!pem) {
    try { pem = localStorage.getItem(STORAGE_KEY); } catch { pem = null; }
  }
  if (!pem) return null;
  certificates = [pemToDer(pem)];
  return certificates;
}

function show(message, kind) {
  verdict.textContent = message;
  verdict.className = "verdict" + (kind ? " flash " + kind : "");
  verdict.dataset.verdict = kind === "ok" ? "valid" : kind === "error" ? "invalid" : "";
}

function formatDate(iso) {
  const [year, month, day] = iso.slice(0, 10).split("-");
  return `${day}.${month}.${year}`;
}

function showFields(fields) {
  for (const dd of fieldList.querySelectorAll("dd[data-field]")) {
    const name = dd.dataset.field;
    let value = fields ? fields[name] : "";
    if (value && (name === "date_of_birth" || name === "act_record_date")) value = formatDate(value);
    if (name === "sex" && value) value = value === "F" ? text("Female") : text("Male");
    if (name === "registry_office_code" && value) value = officeNames[value] || value;
    dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  }
  fieldList.hidden = !fields;
}

async function checkStatus(number) {
  statusNote.hidden = false;
  if (!navigator.onLine) {
    statusNote.textContent = text("StatusOffline");
    return;
  }
  try {
    const response = await fetch(section.dataset.statusUrl + encodeURIComponent(number), {
      cache: "no-store",
    });
    if (!response.ok) throw new Error(String(response.status));
    const { status, superseded_by: newer } = await response.json();
    const name = { valid: "StatusValid", revoked: "StatusRevoked", superseded: "StatusSuperseded" };
    statusNote.textContent =
      status === "superseded" && newer
        ? text("StatusSupersededBy").replace("{number}", newer)
        : text(name[status] || "StatusUnknown");
    statusNote.dataset.status = status;
  } catch {
    statusNote.textContent = text("StatusOffline");
    statusNote.dataset.status = "offline";
  }
}

let generation = 0;

async function check() {
  const current = ++generation;
  showFields(null);
  statusNote.hidden = true;
  statusNote.textContent = "";
  delete statusNote.dataset.status;
  if (!location.hash || location.hash === "#") {
    show(text("NoSeal"), "");
    return;
  }
  if (!window.crypto || !crypto.subtle || typeof DecompressionStream === "undefined") {
    show(text("Unsupported"), "error");
    return;
  }
  show(text("Checking"), "");
  const trusted = await loadCertificates();
  if (current !== generation) return;
  if (!trusted) {
    show(text("NoCertificate"), "error");
    return;
  }
  let fields;
  try {
    fields = await verifySeal(sealFromLocation(location.hash), trusted);
  } catch (error) {
    if (current !== generation) return;
    show(text("Invalid"), "error");
    verdict.dataset.reason = error && error.code ? error.code : "malformed_seal";
    return;
  }
  if (current !== generation) return;
  show(text("Valid"), "ok");
  showFields(fields);
  await checkStatus(fields.certificate_number);
}

window.addEventListener("hashchange", check);
check();
