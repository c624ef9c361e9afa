import { createHash, timingSafeEqual } from "node:crypto";
import { Elysia, t } from "elysia";
import type { Config } from "../config/config";
import { InternalError, NotFound, Unauthorized } from "../http/error-schemas";
import { ApiError } from "../http/errors";
import type { Metrics } from "./metrics";

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * GET /metrics: with METRICS_TOKEN it needs that bearer token; without one it is open in development
 * and test, and does not exist in production (404).
 */
export function metricsRoutes(metrics: Metrics, config: Pick<Config, "metricsToken" | "nodeEnv">) {
  const app = new Elysia({ name: "metrics" });
  const token = config.metricsToken;
  if (!token && config.nodeEnv === "production") return app;
  const expected = token ? digest(`Bearer ${token}`) : null;
  return app.get(
    "/metrics",
    async ({ headers, set }) => {
      // Comparing digests keeps the comparison constant-time whatever the header's length.
      if (expected && !timingSafeEqual(digest(headers.authorization ?? ""), expected)) {
        throw new ApiError(401, "UNAUTHORIZED", "The metrics token is missing or wrong.", undefined, {
          "WWW-Authenticate": 'Bearer realm="metrics"',
        });
      }
      const { contentType, text } = await metrics.scrape();
      set.headers["content-type"] = contentType;
      return text;
    },
    {
      response: {
        200: t.String({ description: "Prometheus text exposition format (text/plain; version=0.0.4)" }),
        401: Unauthorized,
        404: NotFound,
        500: InternalError,
      },
      detail: {
        operationId: "getMetrics",
        tags: ["metrics"],
        summary: "Prometheus metrics",
        description:
          "With METRICS_TOKEN set: needs `Authorization: Bearer <METRICS_TOKEN>` (else 401 with WWW-Authenticate). Without it: open in development and test, 404 in production (the route does not exist).",
        security: token ? [{ metricsToken: [] }] : [],
      },
    },
  );
}
