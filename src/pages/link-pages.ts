import { createHash } from "node:crypto";
import { Elysia } from "elysia";

/*
 * The pages the emailed links open (`${APP_URL}/verify-email?token=…`, `${APP_URL}/reset-password?token=…`)
 * when APP_URL points at the service: a development server, or a deployment without frontend pages of
 * its own. Each is one small HTML page whose form asks for the password and posts it with the token to
 * the API; opening it (as mail scanners such as Outlook Safe Links do) uses nothing up. No external
 * assets; a Content-Security-Policy that allows only this page's own script and style (by hash), requests
 * to this origin, no framing, no forms posted elsewhere; the token never leaves in a Referer header.
 */

const STYLE = `body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem}label{display:block;margin:1rem 0 .3rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}#status{margin-top:1rem;min-height:1.5rem}#status.error{color:#a40000}`;

// Shared by both pages: read the token, take it out of the address bar, post the form as JSON.
const SCRIPT = `(() => {
  const form = document.getElementById("form");
  const status = document.getElementById("status");
  const page = document.body.dataset.page;
  const token = new URLSearchParams(location.search).get("token");
  history.replaceState(null, "", location.pathname);
  const show = (text, error) => { status.textContent = text; status.className = error ? "error" : ""; };
  if (!token) { form.hidden = true; show("This link is incomplete. Open the link from the email again.", true); return; }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = form.elements.password.value;
    if (page === "reset" && password !== form.elements.confirm.value) { show("The two passwords differ.", true); return; }
    form.elements.submit.disabled = true;
    show("One moment…");
    let response, body;
    try {
      response = await fetch(page === "verify" ? "/api/auth/verify-email" : "/api/auth/reset-password", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token, password }),
      });
      body = await response.json();
    } catch {
      form.elements.submit.disabled = false;
      show("Cannot reach ClassmateFinder. Check your connection and try again.", true);
      return;
    }
    form.elements.submit.disabled = false;
    if (response.ok && page === "verify") {
      try { sessionStorage.setItem("classmatefinder.session", JSON.stringify(body));
            localStorage.setItem("classmatefinder.deviceToken:" + body.user.email, body.deviceToken); } catch {}
      form.hidden = true;
      show("Your email address is verified, and you are logged in as " + body.user.username + ".");
      return;
    }
    if (response.ok) { form.hidden = true; show("Your password has been changed. Log in with your new password."); return; }
    if (response.status === 401 && page === "verify") {
      show("That is not the password you registered with. The link still works: try again.", true);
      return;
    }
    const error = body && body.error;
    const details = error && error.details ? " " + error.details.map((d) => d.message).join("; ") + "." : "";
    const retry = response.headers.get("retry-after");
    show((error ? error.message : "Something went wrong.") + details + (retry ? " Try again in " + retry + " s." : ""), true);
  });
})();`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

const HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": `default-src 'none'; script-src ${sha256(SCRIPT)}; style-src ${sha256(STYLE)}; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`,
  "x-frame-options": "DENY",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
};

function page(kind: "verify" | "reset", title: string, intro: string, fields: string, action: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} · ClassmateFinder</title><style>${STYLE}</style></head>
<body data-page="${kind}"><h1>${title}</h1><p>${intro}</p>
<form id="form">${fields}<button id="submit" name="submit" type="submit">${action}</button></form>
<p id="status" role="status"></p><script>${SCRIPT}</script></body></html>`;
}

const VERIFY_PAGE = page(
  "verify",
  "Confirm your email address",
  "Enter the password you chose when you registered. If you did not register, close this page.",
  `<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>`,
  "Confirm",
);

const RESET_PAGE = page(
  "reset",
  "Choose a new password",
  "Enter your new password twice. If you did not ask for this, close this page: your password stays the same.",
  `<label for="password">New password</label><input id="password" name="password" type="password" autocomplete="new-password" minlength="8" required>
<label for="confirm">New password again</label><input id="confirm" name="confirm" type="password" autocomplete="new-password" required>`,
  "Change password",
);

/** GET /verify-email and GET /reset-password: pages, not API (outside the OpenAPI document). */
export function linkPages() {
  return new Elysia({ name: "link-pages" })
    .get("/verify-email", () => new Response(VERIFY_PAGE, { headers: HEADERS }), { detail: { hide: true } })
    .get("/reset-password", () => new Response(RESET_PAGE, { headers: HEADERS }), { detail: { hide: true } });
}
