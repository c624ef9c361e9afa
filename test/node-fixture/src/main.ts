/**
 * A Node back-end that calls the ClassmateFinder API with the typed client, as a service of another
 * team would: compiled by tsc under `module` NodeNext and run by Node (.ci/node-client-check.sh).
 *
 *   node dist/main.js <API URL> <a new email address>
 *
 * Registers the address, then logs in before verifying it; prints one JSON line of what each call
 * answered, and exits 1 when an answer is not the one the contract gives.
 */
import { createClient, type ErrorCode } from "@classmatefinder/api";
import { describeFailure } from "./failures.js";

const [apiUrl, email] = process.argv.slice(2);
if (!apiUrl || !email) {
  console.error("usage: node dist/main.js <API URL> <a new email address>");
  process.exit(64);
}
const api = createClient(apiUrl);
const password = "Analytical-Engine-1843";
const username = `node_${email.split("@")[0]?.replace(/\W/g, "_").slice(0, 20)}`;

const health = await api.health.get();
const registered = await api.api.auth.register.post({ email, username, password, firstName: "Node" });
const login = await api.api.auth.login.post({ email, password });
const me = await api.api.auth.me.get();

// Each result narrowed by its status: the code of a 403 of login can only be EMAIL_NOT_VERIFIED.
const loginCode: ErrorCode | "ok" | string = login.error
  ? login.error.status === 403
    ? login.error.value.error.code
    : describeFailure(login.error)
  : "ok";
const summary = {
  health: health.data?.status ?? `HTTP ${health.status}`,
  registered: registered.data ? registered.data.user.emailVerified : describeFailure(registered.error),
  login: loginCode,
  me: me.error?.status === 401 ? me.error.value.error.code : describeFailure(me.error),
};
console.log(JSON.stringify(summary));
const expected = { health: "ok", registered: false, login: "EMAIL_NOT_VERIFIED", me: "UNAUTHORIZED" };
process.exit(JSON.stringify(summary) === JSON.stringify(expected) ? 0 : 1);
