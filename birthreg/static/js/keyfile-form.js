// The key-file fields of a page (_key_file_fields.html): open the chosen file with the typed
// password into a key record for this page only, and say what went wrong in a code that the
// page's #messages translates. The password field is emptied once it has been used.

import { KeyFileError, openKeyFile, readChosenFile } from "./keyfile.js";
import { webCryptoAvailable } from "./keystore.js";
import { message, show } from "./ui.js";

export async function keyFileRecord(status) {
  if (!webCryptoAvailable()) throw new KeyFileError("no_webcrypto");
  const password = document.getElementById("key-password");
  const bytes = await readChosenFile(document.getElementById("key-file"));
  if (!password.value) throw new KeyFileError("no_password");
  show(status, message("opening"));
  try {
    const record = await openKeyFile(bytes, password.value);
    password.value = "";
    return record;
  } catch (error) {
    if (error instanceof KeyFileError && error.code === "wrong_password") password.select();
    throw error;
  }
}

export function keyFileErrorCode(error) {
  return error instanceof KeyFileError ? error.code : "failed";
}
