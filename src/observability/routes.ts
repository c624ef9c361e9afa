import { createHash, timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import type { Config } from "../config/config";
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
    { detail: { hide: true } },
  );
}
