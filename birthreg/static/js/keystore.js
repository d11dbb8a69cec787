// The holder's key: ECDSA P-256 made by WebCrypto, not extractable, kept in IndexedDB (a
// CryptoKey survives structured cloning without ever exposing the private key) with its
// certificate and chain. One key per browser profile: enrolling again replaces it.

const DB_NAME = "birthreg";
const STORE = "keys";
const SLOT = "holder";

export function webCryptoAvailable() {
  return Boolean(window.isSecureContext && window.crypto && window.crypto.subtle);
}

export async function generateKey() {
  return crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
}

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, action) {
  const db = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const request = action(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

/** Keep {keyPair, certificatePem, chainPem, savedAt}. */
export async function saveKey(record) {
  await withStore("readwrite", (store) => store.put(record, SLOT));
}

export async function loadKey() {
  if (!window.indexedDB) return null;
  return (await withStore("readonly", (store) => store.get(SLOT))) || null;
}

export async function deleteKey() {
  await withStore("readwrite", (store) => store.delete(SLOT));
}

/** Ask the browser not to clear this site's storage under pressure (the key lives there). */
export async function persist() {
  try {
    if (navigator.storage && navigator.storage.persist) return await navigator.storage.persist();
  } catch (error) {
    // Some browsers refuse without a prompt; the key is still kept, only less firmly.
  }
  return false;
}
