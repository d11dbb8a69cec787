// The father's invitation page: the token rides in the fragment (never in a server log); he
// signs in with his own key, the invitation binds the application to his key, and he goes to
// the review page to sign the same document.

import { message, postJSON, show } from "./ui.js";
import { SignInError, signIn } from "./session.js";

const status = document.getElementById("join-status");

async function run() {
  const invitation = new URLSearchParams(window.location.hash.slice(1)).get("invite");
  if (!invitation) {
    show(status, message("no_invitation"), "error");
    return;
  }
  history.replaceState(null, "", window.location.pathname);
  try {
    const session = await signIn();
    const joined = await postJSON("/api/v1/parents/join", { invitation }, session.csrf_token);
    if (!joined.ok) {
      show(status, message(joined.data.error || "failed"), "error");
      return;
    }
    window.location.assign(joined.data.url);
  } catch (error) {
    show(status, message(error instanceof SignInError ? error.code : "failed"), "error");
  }
}

run();
