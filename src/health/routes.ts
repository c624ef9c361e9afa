import { Type } from "@sinclair/typebox";
import { Elysia, t } from "elysia";
import type { Clock } from "../clock";
import type { Database } from "../db/database";
import { InternalError } from "../http/error-schemas";
import type { DrainState } from "../http/plugin";
import { withExamples } from "../http/schemas";
import { REVISION, VERSION } from "../version";

const PING_TIMEOUT_MS = 1500;

/**
 * Resolves true when the database answered within the timeout: a hung database must not hang /health.
 * Concurrent checks share one ping (and one timer), so a burst of health checks costs the database
 * one query, not one each; every answer still reflects a ping that was running when it was asked.
 */
export function databaseProbe(database: Database, timeoutMs = PING_TIMEOUT_MS): () => Promise<boolean> {
  let inFlight: Promise<boolean> | null = null;
  const ping = async () => {
    let answered: boolean | undefined;
    const answer = database.ping().then(
      () => (answered = true),
      () => (answered = false),
    );
    // An answer that is already there (SQLite answers in this thread) needs no timer.
    await undefined;
    if (answered !== undefined) return answered;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  return () => {
    inFlight ??= ping().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}

const Readiness = t.Object(
  {
    status: t.Union([t.Literal("ok"), t.Literal("unavailable"), t.Literal("draining")]),
    version: t.String({ description: "The release (semantic version)" }),
    revision: t.String({ description: "The commit this build was made from: two builds of one version differ here" }),
    // TypeBox's integer: Elysia's `t.Integer` also admits numeric strings, and the document said so.
    uptimeSeconds: Type.Integer({ minimum: 0, description: "Whole seconds since the process started" }),
    checks: t.Object({ database: t.Union([t.Literal("ok"), t.Literal("error")]) }, { additionalProperties: false }),
  },
  // As Elysia makes response objects when it compiles them, so the document does not change after a request.
  { title: "Readiness", additionalProperties: false, description: "Whether the service and its database answer" },
);
const release = { version: VERSION, revision: REVISION };
const ready = { status: "ok", ...release, uptimeSeconds: 12, checks: { database: "ok" } };
const unready = { status: "unavailable", ...release, uptimeSeconds: 12, checks: { database: "error" } };

export function healthRoutes(deps: { database: Database; clock: Clock; startedAt: Date; drain?: DrainState }) {
  const databaseAnswers = databaseProbe(deps.database);
  return new Elysia({ tags: ["health"] })
    .get(
      "/health",
      async ({ status }) => {
        const ok = await databaseAnswers();
        const uptimeSeconds = Math.max(0, Math.floor((deps.clock.now().getTime() - deps.startedAt.getTime()) / 1000));
        const checks = { database: ok ? ("ok" as const) : ("error" as const) };
        // Shutting down: a load balancer takes this instance out while it still serves what it gets.
        if (deps.drain?.draining) return status(503, { status: "draining" as const, ...release, uptimeSeconds, checks });
        return ok
          ? status(200, { status: "ok" as const, ...release, uptimeSeconds, checks })
          : status(503, { status: "unavailable" as const, ...release, uptimeSeconds, checks });
      },
      {
        response: { 200: withExamples(Readiness, ready), 500: InternalError, 503: withExamples(Readiness, unready) },
        detail: {
          operationId: "getReadiness",
          summary: "Readiness: the service and its database answer",
          description:
            "Pings the database with a short timeout: answers within 2 s even when the database hangs, 503 while it does not answer. No authentication, never rate-limited: for load balancers and monitoring.",
        },
      },
    )
    .get("/health/live", () => ({ status: "ok" as const }), {
      response: {
        200: t.Object(
          { status: t.Literal("ok") },
          { title: "Liveness", additionalProperties: false, description: "The process answers", examples: [{ status: "ok" }] },
        ),
        500: InternalError,
      },
      detail: {
        operationId: "getLiveness",
        summary: "Liveness: the process answers",
        description: "Does not touch the database: 200 as long as the process can answer. For a supervisor deciding whether to restart it.",
      },
    });
}
