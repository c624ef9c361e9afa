import { openapi } from "@elysiajs/openapi";
import { FormatRegistry } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { fullFormats } from "elysia/type-system/format";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
// Served by the service itself (and embedded in the compiled binary): the UI works without internet.
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import { VERSION } from "../version";
import { completeDocument } from "./openapi-document";

const ASSETS = "/swagger/assets";
const SPEC_PATH = "/swagger/json";

const DESCRIPTION = `Authentication for ClassmateFinder: students register with a university email address, verify it through the emailed link, log in and get a JWT.

Conventions of every endpoint:
- Request bodies are JSON (\`Content-Type: application/json\`, else 415 UNSUPPORTED_MEDIA_TYPE), at most 16 KiB (else 413 PAYLOAD_TOO_LARGE); invalid JSON or a non-object is 400 VALIDATION_ERROR. Unknown body properties are ignored.
- Every error is \`{ "error": { "code", "message", "details"? } }\` (the \`Error\` schema); \`details\` names each offending field of a VALIDATION_ERROR. Unknown paths and methods get 404 NOT_FOUND (the \`NotFound\` response); unexpected failures 500 INTERNAL_ERROR.
- Every response carries \`X-Request-Id\` and \`X-Content-Type-Options: nosniff\`; responses under /api/auth/ carry \`Cache-Control: no-store\`.
- 429 RATE_LIMITED and 503 SERVICE_BUSY / SERVICE_UNAVAILABLE carry \`Retry-After\` in whole seconds; 401 UNAUTHORIZED carries \`WWW-Authenticate: Bearer\`.
- CORS: the origins listed in CORS_ORIGIN get CORS headers (preflights allow Authorization and Content-Type).
- Timestamps are ISO-8601 strings in UTC.

The examples work as they are against a development server (\`bun run dev\` allows .edu addresses): register, then log in (403 EMAIL_NOT_VERIFIED until the emailed link is used, then 200).`;

// Importing @elysiajs/openapi replaces TypeBox's string formats (uuid, email, date, …) with zod checks
// that build a new zod schema on every call: a quarter of the CPU of GET /api/auth/me, whose response
// schema has a uuid. Elysia's own checks (regular expressions) go back in.
for (const [name, format] of Object.entries(fullFormats)) {
  if (format instanceof RegExp) FormatRegistry.Set(name, (value) => format.test(value));
  else if (typeof format === "function") FormatRegistry.Set(name, format);
}

/**
 * The origin this request reached the service at: its URL's (from the Host header), with the scheme that
 * the trusted proxy in front reports (X-Forwarded-Proto, its last entry) when TRUST_PROXY is on.
 */
function reachedAt(request: Request, trustProxy: boolean): string {
  const url = new URL(request.url);
  const forwarded = trustProxy ? request.headers.get("x-forwarded-proto")?.split(",").pop()?.trim().toLowerCase() : undefined;
  if (forwarded === "http" || forwarded === "https") url.protocol = `${forwarded}:`;
  return url.origin;
}

export function swaggerPlugin(options: { trustProxy: boolean }) {
  // The generated document is cached by the plugin (a new object when routes were added), and so is ours.
  const completed = new WeakMap<object, object>();
  return (
    new Elysia({ name: "swagger" })
      // This plugin's routes only (an onRequest hook would run for every request of the service).
      .onAfterHandle(({ path, request, responseValue, set }) => {
        // No other site may frame the UI (clickjacking): both the old header and the CSP directive.
        set.headers["x-frame-options"] = "DENY";
        set.headers["content-security-policy"] = "frame-ancestors 'none'";
        if (path !== SPEC_PATH || !responseValue || typeof responseValue !== "object") return;
        const document = completed.get(responseValue) ?? completeDocument(responseValue);
        completed.set(responseValue, document);
        // Absolute, as tools that import the document need it (Postman's conversion made "/" a base URL
        // of http:////api/…); the address this request reached, so it is right wherever the service runs.
        // Not APP_URL: that is where the links in emails go, the frontend's address in most deployments.
        const servers = [{ url: reachedAt(request, options.trustProxy), description: "The server that serves this document" }];
        return { ...document, servers };
      })
      .get(
        `${ASSETS}/swagger-ui-bundle.js`,
        () =>
          new Response(Bun.file(swaggerBundle), {
            headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" },
          }),
        {
          detail: { hide: true },
        },
      )
      .get(
        `${ASSETS}/swagger-ui.css`,
        () =>
          new Response(Bun.file(swaggerCss), {
            headers: { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=86400" },
          }),
        {
          detail: { hide: true },
        },
      )
      .use(
        openapi({
          path: "/swagger",
          specPath: SPEC_PATH,
          provider: "swagger-ui",
          swagger: {
            cdn: `${ASSETS}/swagger-ui-bundle.js`,
            theme: `${ASSETS}/swagger-ui.css`,
            persistAuthorization: false,
            // Absolute, so the page also works when opened as /swagger/ (the plugin's default is relative).
            ...({ url: SPEC_PATH } as object),
          },
          exclude: { paths: [/^\/swagger/] },
          documentation: {
            info: {
              title: "ClassmateFinder API",
              version: VERSION,
              description: DESCRIPTION,
              contact: { name: "ClassmateFinder backend team", url: "https://classmatefinder.com" },
              license: { name: "Proprietary", identifier: "LicenseRef-ClassmateFinder-Proprietary" },
            },
            tags: [
              { name: "auth", description: "Registration, email verification, login, logout and passwords" },
              { name: "health", description: "Readiness and liveness, for load balancers and supervisors" },
              { name: "metrics", description: "Prometheus metrics, for monitoring" },
            ],
            components: {
              securitySchemes: {
                bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "The token from login or change-password" },
                metricsToken: { type: "http", scheme: "bearer", description: "METRICS_TOKEN, when the service is configured with one" },
              },
            },
          },
        }),
      )
  );
}
