import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startServiceProcess } from "../support/service-process";

// A stand-in for Sentry's ingest endpoint.
const envelopes: string[] = [];
const ingest = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(request) {
    const raw = new Uint8Array(await request.arrayBuffer());
    envelopes.push(
      request.headers.get("content-encoding") === "gzip" ? new TextDecoder().decode(Bun.gunzipSync(raw)) : new TextDecoder().decode(raw),
    );
    return Response.json({ id: "0" });
  },
});
afterAll(() => ingest.stop(true));

const PRELOAD = join(import.meta.dir, "..", "support", "provoke-crash.ts");

describe("an error outside any request", () => {
  test.each(["rejection", "exception"])("an unhandled %s: one scrubbed JSON line, reported to Sentry, exit 1", async (kind) => {
    envelopes.length = 0;
    const service = await startServiceProcess(
      {
        DATABASE_URL: "file::memory:",
        CMF_TEST_PROVOKE: kind,
        SENTRY_DSN: `http://publickey@127.0.0.1:${ingest.port}/1`,
      },
      { preload: PRELOAD },
    );
    try {
      service.child.kill("SIGUSR2");
      expect(await service.child.exited).toBe(1);
      // Every stdout line is JSON (nothing raw), and exactly one says what happened.
      const entries = service.lines.map((line) => JSON.parse(line) as Record<string, any>);
      const fatal = entries.filter((entry) => entry.level === "fatal");
      expect(fatal).toHaveLength(1);
      expect(fatal[0]?.kind).toBe(kind === "rejection" ? "unhandledRejection" : "uncaughtException");
      expect(fatal[0]?.err.message).toContain("provoked for the test");
      expect(service.lines.join("\n")).not.toContain("secret-hash");
      expect(service.stderr()).not.toContain("provoked");
      expect(envelopes.some((envelope) => envelope.includes("provoked for the test"))).toBe(true);
      expect(envelopes.join("\n")).not.toContain("student@ualberta.ca");
      expect(envelopes.join("\n")).not.toContain("secret-hash");
    } finally {
      service.kill();
    }
  });
});
