/**
 * The students of the rollout drill (.ci/rollout-drill.sh), compiled to one binary and run inside the
 * systemd sandbox: steady traffic through nginx (register → the emailed link → verify → login → /me →
 * change password → login), an SMTP server that receives the service's emails (and can refuse them, to
 * leave emails queued across a rollback), and the checks that nothing acknowledged was lost.
 *
 * Control over HTTP on 127.0.0.1:7070: POST /stage/NAME, /smtp/down, /smtp/up, /probe/before,
 * /probe/after, /stop (writes every request to $DRILL_DIR/requests.json). Each request carries an
 * X-Request-Id (`drill-N`) by which drill-report.ts finds it in nginx's log and the service's journal.
 */
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

const API = process.env.DRILL_API ?? "https://127.0.0.1";
const DIR = process.env.DRILL_DIR ?? "/run/drill";
const FLOWS = Number(process.env.DRILL_FLOWS ?? 3);
const READERS = Number(process.env.DRILL_READERS ?? 2);
const READER_PAUSE_MS = Number(process.env.DRILL_READER_PAUSE_MS ?? 60);
const LINK_WAIT_MS = 120_000;

export interface RequestRecord {
  id: string;
  stage: string;
  at: number;
  method: string;
  path: string;
  status: number;
  ms: number;
  /** Why the request counts as failed (unexpected status, no answer); absent when fine. */
  problem?: string;
  /** INVALID_TOKEN of a link, when the new release's rollback notes say verification links are lost. */
  documentedLoss?: boolean;
}

const records: RequestRecord[] = [];
let stage = "previous";
let stopping = false;
let counter = 0;
/** Subjects of the new release's rollback notes (e.g. "verification links"): losses it documents. */
const documentedLosses = (process.env.DRILL_DOCUMENTED_LOSSES ?? "").split(",").filter(Boolean);

// --- the mailbox: an SMTP server that keeps each address's newest link ------------------------------
const links = new Map<string, string>();
let smtpDown = false;
const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ["STARTTLS", "AUTH"],
  logger: false,
  onConnect(_session, callback) {
    if (!smtpDown) return callback();
    const refused = Object.assign(new Error("mail server down (drill)"), { responseCode: 421 });
    callback(refused);
  },
  onData(stream, session, callback) {
    simpleParser(stream)
      .then((mail) => {
        const link = /https?:\/\/\S*[?&]token=[^\s"<>]+/.exec(mail.text ?? "")?.[0];
        for (const recipient of session.envelope.rcptTo) if (link) links.set(recipient.address.toLowerCase(), link);
        callback();
      })
      .catch(callback);
  },
});
smtp.listen(2525, "127.0.0.1");

async function linkFor(email: string, timeoutMs = LINK_WAIT_MS): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const link = links.get(email);
    if (link) return link;
    await Bun.sleep(200);
  }
  return null;
}

// --- requests -------------------------------------------------------------------------------------
type Answer = { status: number; json: any };

async function call(method: string, path: string, expected: number[], body?: unknown, token?: string): Promise<Answer> {
  const id = `drill-${++counter}`;
  const at = Date.now();
  const headers: Record<string, string> = { "x-request-id": id };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  const record: RequestRecord = { id, stage, at, method, path, status: 0, ms: 0 };
  records.push(record);
  try {
    const response = await fetch(`${API}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
      tls: { rejectUnauthorized: false },
    });
    const text = await response.text();
    record.status = response.status;
    record.ms = Date.now() - at;
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON: the status says enough
    }
    if (!expected.includes(response.status)) {
      const code = json?.error?.code as string | undefined;
      if (path === "/api/auth/verify-email" && code === "INVALID_TOKEN" && documentedLosses.includes("verification links")) {
        record.documentedLoss = true;
      } else record.problem = `${response.status} ${code ?? ""}, expected ${expected.join("/")}`;
    }
    return { status: response.status, json };
  } catch (error) {
    record.ms = Date.now() - at;
    record.problem = `no answer: ${(error as Error).message}`;
    return { status: 0, json: null };
  }
}

interface Student {
  email: string;
  username: string;
  password: string;
  token?: string;
}

function newStudent(tag: string): Student {
  const n = `${tag}${++counter}${Math.random().toString(36).slice(2, 7)}`;
  return { email: `${n}@drill.edu`, username: n.slice(0, 30), password: `Drill-${n}-Pass1` };
}

const register = (s: Student) =>
  call("POST", "/api/auth/register", [201], { email: s.email, username: s.username, password: s.password, firstName: "Drill" });

/**
 * The verification step: the token from the emailed link, with the password the student chose (the
 * release that binds a link to the registrant needs it; an earlier one ignores it).
 */
async function verify(s: Student, link: string): Promise<boolean> {
  const token = new URL(link).searchParams.get("token");
  const answer = await call("POST", "/api/auth/verify-email", [200], { token, password: s.password });
  return answer.status === 200;
}

async function login(s: Student): Promise<boolean> {
  const answer = await call("POST", "/api/auth/login", [200], { email: s.email, password: s.password });
  if (answer.status === 200) s.token = answer.json.token;
  return answer.status === 200;
}

async function changePassword(s: Student): Promise<boolean> {
  const newPassword = `${s.password}x`;
  const answer = await call("POST", "/api/auth/change-password", [200], { currentPassword: s.password, newPassword }, s.token);
  if (answer.status !== 200) return false;
  s.password = newPassword;
  s.token = answer.json.token;
  return true;
}

/** One student's whole journey; returns the student when every step answered as it should. */
async function journey(tag: string): Promise<Student | null> {
  const s = newStudent(tag);
  if ((await register(s)).status !== 201) return null;
  const link = await linkFor(s.email);
  if (!link) {
    records.push({ id: `mail-${s.email}`, stage, at: Date.now(), method: "MAIL", path: s.email, status: 0, ms: 0, problem: "no email" });
    return null;
  }
  if (!(await verify(s, link)) || !(await login(s))) return null;
  for (let i = 0; i < 3; i++) await call("GET", "/api/auth/me", [200], undefined, s.token);
  if (!(await changePassword(s)) || !(await login(s))) return null;
  await call("GET", "/api/auth/me", [200], undefined, s.token);
  return s;
}

const signedIn: Student[] = [];
async function flowLoop() {
  while (!stopping) {
    const s = await journey("f");
    if (s) signedIn.push(s);
  }
}
/** /me of students whose journey is over (their token no longer changes under the reader). */
async function readerLoop() {
  while (!stopping) {
    const s = signedIn[Math.floor(Math.random() * signedIn.length)];
    if (s) await call("GET", "/api/auth/me", [200], undefined, s.token);
    await Bun.sleep(READER_PAUSE_MS);
  }
}

// --- what must survive the rollback --------------------------------------------------------------
const probe: { complete: Student[]; queued: Student[] } = { complete: [], queued: [] };

/** Before the rollback (every request on the new release): finished accounts, then registrations whose email cannot leave. */
async function probeBefore() {
  for (let i = 0; i < 4; i++) {
    const s = await journey("p");
    if (s) probe.complete.push(s);
  }
  smtpDown = true;
  for (let i = 0; i < 4; i++) {
    const s = newStudent("q");
    if ((await register(s)).status === 201) probe.queued.push(s);
  }
  return { complete: probe.complete.length, queued: probe.queued.length };
}

/** After the rollback: sessions, passwords and accounts of the new release work; its queued emails arrive. */
async function probeAfter() {
  const lost: string[] = [];
  for (const s of probe.complete) {
    if ((await call("GET", "/api/auth/me", [200], undefined, s.token)).status !== 200) lost.push(`session of ${s.email}`);
    if (!(await login(s))) lost.push(`password of ${s.email}`);
  }
  for (const s of probe.queued) {
    const link = await linkFor(s.email);
    if (!link) lost.push(`queued email to ${s.email}`);
    else if (!(await verify(s, link)) || !(await login(s))) lost.push(`account of ${s.email}`);
  }
  return { checked: probe.complete.length + probe.queued.length, lost };
}

// --- control --------------------------------------------------------------------------------------
const workers = [...Array.from({ length: FLOWS }, flowLoop), ...Array.from({ length: READERS }, readerLoop)];
const control = Bun.serve({
  port: 7070,
  hostname: "127.0.0.1",
  idleTimeout: 255,
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/stage/")) stage = path.slice("/stage/".length);
    else if (path === "/smtp/down") smtpDown = true;
    else if (path === "/smtp/up") smtpDown = false;
    else if (path === "/probe/before") return Response.json(await probeBefore());
    else if (path === "/probe/after") return Response.json(await probeAfter());
    else if (path === "/stop") {
      stopping = true;
      await Promise.all(workers);
      await Bun.write(`${DIR}/requests.json`, JSON.stringify(records));
      setTimeout(() => {
        control.stop(true);
        smtp.close();
      }, 100);
      return Response.json({ requests: records.length });
    } else if (path !== "/stats") return new Response("unknown", { status: 404 });
    // Per stage: what the students saw, for the drill to hold the gate's verdicts against.
    const stages: Record<string, { requests: number; problems: number }> = {};
    for (const r of records) {
      stages[r.stage] ??= { requests: 0, problems: 0 };
      const entry = stages[r.stage] as { requests: number; problems: number };
      entry.requests++;
      if (r.problem) entry.problems++;
    }
    return Response.json({ stage, requests: records.length, signedIn: signedIn.length, stages });
  },
});
