// The key-file sign-in page: open the .p12 from the ward's desk in this page, sign a fresh
// sign-in challenge with it, and go on. The file, its password and the key stay here.

import { keyFileRecord, keyFileErrorCode } from "./keyfile-form.js";
import { SignInError, signInWith } from "./session.js";
import { message, show } from "./ui.js";

const button = document.getElementById("key-file-button");
const status = document.getElementById("key-file-status");

async function run() {
  button.disabled = true;
  try {
    const record = await keyFileRecord(status);
    show(status, message("working"));
    await signInWith(record);
    window.location.assign(button.dataset.next || "/parents");
  } catch (error) {
    const code = error instanceof SignInError ? error.code : keyFileErrorCode(error);
    show(status, message(code === "invalid_signature" ? "foreign_key_file" : code), "error");
  } finally {
    button.disabled = false;
  }
}

button.addEventListener("click", run);
