import { Elysia } from "elysia";

/**
 * CORS by exact origin. Hand-written (~30 lines) because @elysiajs/cors adds Allow-Headers and
 * Expose-Headers to every response, also for origins that are not allowed, which the contract forbids.
 */
export function corsPlugin(allowedOrigins: readonly string[]) {
  const anyOrigin = allowedOrigins.includes("*");
  const allowed = new Set(allowedOrigins);
  // With exact origins every answer depends on Origin (headers for one, none for another or none at all):
  // a shared cache must not hand one origin's answer to another.
  const dependsOnOrigin = !anyOrigin && allowed.size > 0;
  return new Elysia({ name: "cors" }).onRequest(({ request, set }) => {
    const origin = request.headers.get("origin");
    const preflight = request.method === "OPTIONS" && request.headers.has("access-control-request-method");
    if (dependsOnOrigin) set.headers.vary = "Origin";
    if (origin && (anyOrigin || allowed.has(origin))) {
      set.headers["access-control-allow-origin"] = anyOrigin ? "*" : origin;
      set.headers["access-control-expose-headers"] = "X-Request-Id, Retry-After, WWW-Authenticate";
      if (preflight) {
        set.headers["access-control-allow-methods"] = "GET, POST, OPTIONS";
        set.headers["access-control-allow-headers"] = "Authorization, Content-Type";
        set.headers["access-control-max-age"] = "600";
      }
    }
    // A preflight is answered here, allowed or not; a refused origin simply gets no CORS headers.
    if (preflight) return new Response(null, { status: 204, headers: set.headers as Record<string, string> });
  });
}
