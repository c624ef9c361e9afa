import { afterAll, describe, expect, test } from "bun:test";
import { createApp } from "../../src/app";
import { parseConfig } from "../../src/config/config";
import { createLogger } from "../../src/logger";
import { createErrorReporter, noErrorReporter } from "../../src/observability/error-reporting";
import { createTestApp, PASSWORD } from "../support/app";

// A stand-in for Sentry's ingest endpoint: records every envelope it receives.
const received: { path: string; body: string }[] = [];
const ingest = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(request) {
    const raw = new Uint8Array(await request.arrayBuffer());
    const body =
      request.headers.get("content-encoding") === "gzip" ? new TextDecoder().decode(Bun.gunzipSync(raw)) : new TextDecoder().decode(raw);
    received.push({ path: new URL(request.url).pathname, body });
    return Response.json({ id: "0" });
  },
});
afterAll(() => ingest.stop(true));

const base = await createTestApp();

/** An app whose database blows up on every read: any login is a 500. */
function explodingApp(errorReporter = noErrorReporter) {
  const db = new Proxy(base.database.db, {
    get(target, property, receiver) {
      // Every read: a login on PostgreSQL reads its user in a CTE beside its counting (`with`).
      if (property === "select" || property === "with") {
        return () => {
          throw new Error("database exploded while looking up victim@ualberta.ca");
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  return createApp({
    config: base.config,
    database: { ...base.database, db },
    logger: createLogger({ logLevel: "silent" }),
    errorReporter,
  });
}

const forcedFailure = () =>
  new Request("http://localhost/api/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer secret.jwt.value" },
    body: JSON.stringify({ email: "victim@ualberta.ca", password: PASSWORD }),
  });

describe("error tracking", () => {
  test("with no SENTRY_DSN nothing is initialised and nothing is sent", async () => {
    const reporter = await createErrorReporter(parseConfig({ NODE_ENV: "test" }));
    expect(reporter).toBe(noErrorReporter);
    const res = await explodingApp(reporter).app.handle(forcedFailure());
    expect(res.status).toBe(500);
    await Bun.sleep(50);
    expect(received).toHaveLength(0);
  });

  test("a 500 is reported once with release and environment, without body, password, email or Authorization", async () => {
    const dsn = `http://publickey@127.0.0.1:${ingest.port}/42`;
    const reporter = await createErrorReporter(parseConfig({ NODE_ENV: "test", SENTRY_DSN: dsn, SENTRY_ENVIRONMENT: "staging" }));
    const res = await explodingApp(reporter).app.handle(forcedFailure());
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: "INTERNAL_ERROR", message: expect.any(String) } });
    await reporter.close(5000);

    const events = received
      .filter((entry) => entry.path === "/api/42/envelope/")
      .flatMap((entry) => entry.body.split("\n").map((line) => JSON.parse(line)))
      .filter((item) => item.exception);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event.release).toBe("classmatefinder-backend@0.1.0");
    expect(event.environment).toBe("staging");
    expect(event.tags.where).toBe("http");
    expect(event.exception.values[0].value).toContain("[email]");
    const everything = received.map((entry) => entry.body).join("\n");
    for (const secret of [PASSWORD, "victim@ualberta.ca", "secret.jwt.value", "Bearer"]) expect(everything).not.toContain(secret);
  });
});
