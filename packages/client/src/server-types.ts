/**
 * The server's route types, as the client sees them. In this repository they are read from the server's
 * sources; the package's build (scripts/build.ts) replaces this module by its expansion, so a frontend
 * gets plain declarations and needs none of the server's sources or `bun-types`.
 */
import type { App } from "../../../src/app";

export type { ErrorCode } from "../../../src/http/errors";

/**
 * One route: its JSON body and its responses by status. Elysia's `params`/`query`/`headers` are unused by
 * this API, and Elysia's `422` is never sent: the service answers `400 VALIDATION_ERROR` instead.
 */
type RouteOf<R> = R extends { body: infer Body; response: infer Responses }
  ? { body: Body; response: Omit<Responses, 422> }
  : { [K in keyof R]: RouteOf<R[K]> };

type Served = App["~Routes"];
/**
 * The documented routes, under `/api` and `/health` (test/client/contract.test.ts holds them against the
 * OpenAPI document). `/swagger` and `/metrics` are for people and Prometheus, not for the frontend.
 */
export type ApiRoutes = RouteOf<{ api: Served["api"]; health: Served["health"] }>;
