// The sign-in page: sign in with the key on this phone and go back where the holder was going.

import { message, show } from "./ui.js";
import { SignInError, signIn } from "./session.js";

const status = document.getElementById("sign-in-status");
const retry = document.getElementById("retry");

async function run() {
  retry.hidden = true;
  try {
    await signIn();
    window.location.assign(status.dataset.next || "/parents");
  } catch (error) {
    const code = error instanceof SignInError ? error.code : "failed";
    if (code === "no_key") {
      status.hidden = true;
      document.getElementById("no-key").hidden = false;
      return;
    }
    show(status, message(code), "error");
    if (code !== "key_revoked" && code !== "not_a_parent_key") retry.hidden = false;
  }
}

retry.addEventListener("click", run);
run();
