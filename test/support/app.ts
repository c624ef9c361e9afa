import { createApp } from "../../src/app";
import { ManualClock } from "../../src/clock";
import { type Config, type DatabaseConfig, parseConfig } from "../../src/config/config";
import type { Database } from "../../src/db/database";
import { argon2idHasher, type PasswordHasher } from "../../src/hashing/password-hasher";
import { createLogger } from "../../src/logger";
import type { EmailMessage, MailTransport } from "../../src/mail/types";
import { createDatabaseMetrics } from "../../src/observability/database-metrics";
import { openTestDatabase } from "./database";
import { conformanceTo, type ResponseConformance } from "./openapi-conformance";

export const PASSWORD = "TestPass123";
export const TEST_HASHER = argon2idHasher({ memoryKib: 1024, timeCost: 1 });

/** Records sent emails; `failing = true` simulates a mail server outage. */
export class CapturingTransport implements MailTransport {
  readonly name = "smtp" as const;
  readonly sent: EmailMessage[] = [];
  failing = false;
  async send(message: EmailMessage) {
    if (this.failing) throw new Error("connect ECONNREFUSED 127.0.0.1:2525");
    this.sent.push(message);
  }
  /** The token inside the newest email to `to` of that kind. */
  tokenFor(to: string, kind: EmailMessage["kind"] = "verify_email"): string {
    const message = this.sent.filter((m) => m.to === to && m.kind === kind).at(-1);
    const token = message && new URL(message.link).searchParams.get("token");
    if (!token) throw new Error(`no ${kind} email to ${to}`);
    return token;
  }
}

export interface TestAppOptions {
  env?: Record<string, string>;
  database?: Database;
  hasher?: PasswordHasher;
  /** The release this instance reports (default: this build's version and commit). */
  version?: string;
  revision?: string;
  /** A database of this kind instead of the suite's (TEST_DATABASE), opened with the driver hooks. */
  databaseConfig?: DatabaseConfig;
  /** How often a started outbox polls (its default: 1 s). */
  outboxPollIntervalMs?: number;
}

const documents = new Map<string, Promise<unknown>>();

/**
 * The OpenAPI document that the service serves with this configuration, from an instance of its own (with
 * SWAGGER_ENABLED on): fetching it from the app under test would add a request line and metrics to its own.
 */
function documentServedWith(config: Config, database: Database): Promise<unknown> {
  const key = JSON.stringify(config);
  let document = documents.get(key);
  if (!document) {
    const documented = createApp({
      config: { ...config, swaggerEnabled: true },
      database, // generating the document does not touch it
      logger: createLogger({ logLevel: "silent" }),
    });
    document = documented.app.handle(new Request("http://localhost/swagger/json")).then((response) => response.json());
    documents.set(key, document);
  }
  return document;
}

/** The whole service in-process, on a fresh database, with a manual clock, captured logs and mail. */
export async function createTestApp(options: TestAppOptions = {}) {
  const config: Config = parseConfig({
    NODE_ENV: "test",
    JWT_SECRET: "test-secret-that-is-long-enough-0123456789",
    UNIVERSITY_DOMAINS: ".edu,.ualberta.ca",
    APP_URL: "https://app.classmatefinder.test",
    // A loaded CI machine must not turn test logins away; the overload tests set their own.
    PASSWORD_HASH_QUEUE_TIMEOUT: "30s",
    ...options.env,
  });
  const clock = new ManualClock(new Date());
  const logLines: string[] = [];
  // One entry per line: request lines arrive several to a write (one write per event-loop turn).
  const logger = createLogger(
    { logLevel: "debug" },
    { write: (chunk: string) => void logLines.push(...chunk.split("\n").filter(Boolean)) },
  );
  // The driver hooks, as serve installs them (only on a database this helper opens itself).
  const databaseMetrics = options.database ? undefined : createDatabaseMetrics({ logger, slowQueryMs: config.slowQueryMs });
  const database = options.database ?? (await openTestDatabase(options.databaseConfig, { observer: databaseMetrics?.observer }));
  const mail = new CapturingTransport();
  // Cheap argon2id parameters: the suite hashes hundreds of passwords.
  const hasher = options.hasher ?? TEST_HASHER;
  const built = createApp({
    config,
    database,
    logger,
    clock,
    mailTransport: mail,
    hasher,
    databaseMetrics,
    outboxPollIntervalMs: options.outboxPollIntervalMs,
    version: options.version,
    revision: options.revision,
  });
  const { app, outbox } = built;

  // Every response of this app is held against the OpenAPI document that its configuration serves; one that
  // does not conform fails the request, and so the test that made it (test/support/openapi-conformance.ts).
  const handle = app.handle;
  let conformance: Promise<ResponseConformance> | undefined;
  app.handle = async (request: Request) => {
    const response = await handle(request);
    conformance ??= documentServedWith(config, database).then(conformanceTo);
    await (await conformance).check(request, response);
    return response;
  };

  async function call(method: string, path: string, init: { body?: unknown; token?: string; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...init.headers };
    if (init.body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    const body = init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    const response = await app.handle(new Request(`http://localhost${path}`, { method, headers, body }));
    const text = await response.text();
    // Elysia runs after-response hooks (request log line, metrics) on a later tick: let them finish, and
    // the emails that resend-verification and forgot-password queue after answering.
    await new Promise((resolve) => setImmediate(resolve));
    await built.auth.deferred.settled();
    let json: any = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: response.status, headers: response.headers, json, text };
  }

  let counter = 0;
  /** Registers (and by default verifies) a fresh account; returns its credentials. */
  async function registerUser(opts: { verify?: boolean; email?: string; username?: string } = {}) {
    counter += 1;
    const suffix = `${counter}${Math.random().toString(36).slice(2, 7)}`;
    const email = opts.email ?? `student${suffix}@ualberta.ca`;
    const username = opts.username ?? `student_${suffix}`;
    const res = await call("POST", "/api/auth/register", { body: { email, username, password: PASSWORD, firstName: "Test" } });
    if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
    await outbox.deliverDue();
    if (opts.verify !== false) {
      const verified = await call("POST", "/api/auth/verify-email", { body: { token: mail.tokenFor(email), password: PASSWORD } });
      if (verified.status !== 200) throw new Error(`verify failed: ${verified.text}`);
    }
    return { email, username, password: PASSWORD, user: res.json.user };
  }

  async function login(email: string, password = PASSWORD) {
    const res = await call("POST", "/api/auth/login", { body: { email, password } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
    return res.json.token as string;
  }

  return { ...built, config, database, databaseMetrics, clock, mail, logLines, call, registerUser, login };
}

export type TestApp = Awaited<ReturnType<typeof createTestApp>>;
