import { openapi } from "@elysiajs/openapi";
import { FormatRegistry } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { fullFormats } from "elysia/type-system/format";
import swaggerCss from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
// Served by the service itself (and embedded in the compiled binary): the UI works without internet.
import swaggerBundle from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import { VERSION } from "../version";

const ASSETS = "/swagger/assets";

// Importing @elysiajs/openapi replaces TypeBox's string formats (uuid, email, date, …) with zod checks
// that build a new zod schema on every call: a quarter of the CPU of GET /api/auth/me, whose response
// schema has a uuid. Elysia's own checks (regular expressions) go back in.
for (const [name, format] of Object.entries(fullFormats)) {
  if (format instanceof RegExp) FormatRegistry.Set(name, (value) => format.test(value));
  else if (typeof format === "function") FormatRegistry.Set(name, format);
}

export function swaggerPlugin() {
  return new Elysia({ name: "swagger" })
    .onRequest(({ request, set }) => {
      // No other site may frame the UI (clickjacking): both the old header and the CSP directive.
      const { url } = request;
      if (url.startsWith("/swagger", url.indexOf("/", url.indexOf("//") + 2))) {
        set.headers["x-frame-options"] = "DENY";
        set.headers["content-security-policy"] = "frame-ancestors 'none'";
      }
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
        specPath: "/swagger/json",
        provider: "swagger-ui",
        swagger: {
          cdn: `${ASSETS}/swagger-ui-bundle.js`,
          theme: `${ASSETS}/swagger-ui.css`,
          persistAuthorization: false,
          // Absolute, so the page also works when opened as /swagger/ (the plugin's default is relative).
          ...({ url: "/swagger/json" } as object),
        },
        exclude: { paths: [/^\/swagger/, "/metrics"] },
        documentation: {
          info: {
            title: "ClassmateFinder API",
            version: VERSION,
            description:
              "Authentication for ClassmateFinder. Every error has the shape { error: { code, message, details? } }. Every response carries X-Request-Id; /api/auth responses carry Cache-Control: no-store. Bodies are JSON, at most 16 KiB (413 PAYLOAD_TOO_LARGE); other content types get 415 UNSUPPORTED_MEDIA_TYPE. Rate-limited requests get 429 RATE_LIMITED with Retry-After.",
          },
          tags: [
            { name: "auth", description: "Registration, email verification, login, passwords" },
            { name: "health", description: "Readiness and liveness" },
          ],
          components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
        },
      }),
    );
}
