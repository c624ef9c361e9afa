import { beforeAll, describe, expect, test } from "bun:test";
import { createTestApp } from "../support/app";
import { inlined } from "../support/openapi";
import { builtPackage, typecheck } from "./typecheck";

/**
 * The OpenAPI document (for REST clients) and the typed client (for the frontend) describe the same API:
 * the same routes, and per route the same error statuses, error codes, success fields and body fields.
 */
const app = await createTestApp();
const doc = inlined((await app.call("GET", "/swagger/json")).json);

interface Operation {
  method: string;
  path: string;
  responses: Record<string, { content?: { "application/json"?: { schema?: any } } }>;
  requestBody?: { content: { "application/json": { schema: any } } };
}
const operations: Operation[] = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({ method, path, ...operation })),
);
/** Served, but deliberately not documented: the documentation itself. */
// Swagger UI, and the HTML pages the emailed links open (not API: src/pages/link-pages.ts).
const undocumented = (path: string) => path.startsWith("/swagger") || path === "/verify-email" || path === "/reset-password";
const routes = app.app.routes.filter((route) => route.method !== "OPTIONS");
/** Documented, but not the frontend's: Prometheus scrapes /metrics, and the client's type leaves it out. */
const inClient = (path: string) => path !== "/metrics";

const union = (values: (string | number)[]) => (values.length === 0 ? "never" : values.map((value) => JSON.stringify(value)).join(" | "));
const segments = (path: string) => path.split("/").filter(Boolean);
const accessor = (path: string, method: string) => `Client${[...segments(path), method].map((key) => `[${JSON.stringify(key)}]`).join("")}`;

/** Type assertions that hold exactly when the client's types say what the document says. */
function assertionsFromDocument(): string {
  const lines: string[] = [];
  for (const { method, path, responses, requestBody } of operations.filter((operation) => inClient(operation.path))) {
    const fn = accessor(path, method);
    const statuses = Object.keys(responses).map(Number);
    lines.push(`// ${method.toUpperCase()} ${path}`);
    const errorStatuses = statuses.filter((status) => status >= 300);
    lines.push(`Expect<Equal<StatusOf<${fn}>, ${union(errorStatuses)}>>,`);
    for (const status of statuses) {
      const schema = responses[status]?.content?.["application/json"]?.schema;
      const codes: string[] | undefined = schema?.properties?.error?.properties?.code?.enum;
      if (status >= 300 && codes) lines.push(`Expect<Equal<CodeOf<${fn}, ${status}>, ${union(codes)}>>,`);
      if (status < 300 && schema?.properties) lines.push(`Expect<Equal<keyof DataOf<${fn}>, ${union(Object.keys(schema.properties))}>>,`);
    }
    const body = requestBody?.content["application/json"].schema;
    if (body) {
      lines.push(`Expect<Equal<keyof BodyOf<${fn}>, ${union(Object.keys(body.properties))}>>,`);
      lines.push(`Expect<Equal<RequiredKeys<BodyOf<${fn}>>, ${union(body.required ?? [])}>>,`);
    }
  }
  // Each level of the client (Client, Client["api"], …) has exactly the documented keys, besides undocumented routes.
  const tree = (paths: { path: string; method: string }[]) => {
    const nodes = new Map<string, Set<string>>();
    for (const { path, method } of paths) {
      const keys = [...segments(path), method.toLowerCase()];
      keys.forEach((key, depth) => {
        const node = JSON.stringify(keys.slice(0, depth));
        nodes.set(node, (nodes.get(node) ?? new Set()).add(key));
      });
    }
    return nodes;
  };
  const documented = tree(operations.filter((operation) => inClient(operation.path)));
  const served = tree(routes.filter((route) => inClient(route.path)));
  for (const [node, keys] of documented) {
    const path = (JSON.parse(node) as string[]).map((key) => `[${JSON.stringify(key)}]`).join("");
    const hidden = [...(served.get(node) ?? [])].filter((key) => !keys.has(key));
    lines.push(`Expect<Equal<Exclude<keyof Client${path}, ${union(hidden)}>, ${union([...keys])}>>,`);
  }
  return `import type { Client } from "@classmatefinder/api";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
type Result<F> = F extends (...args: any[]) => Promise<infer R> ? R : never;
type ErrorOf<F> = NonNullable<Result<F> extends { error: infer E } ? E : never>;
type DataOf<F> = NonNullable<Result<F> extends { data: infer D } ? D : never>;
type BodyOf<F> = F extends (body: infer B, ...rest: any[]) => any ? NonNullable<B> : never;
// Every route can also fail with "network" (no response) and "unexpected" (not the API's answer).
type StatusOf<F> = Exclude<ErrorOf<F> extends { status: infer S } ? S : never, "network" | "unexpected">;
type CodesIn<E> = E extends { value: { error: { code: infer C } } } ? C : never;
type CodeOf<F, S> = CodesIn<Extract<ErrorOf<F>, { status: S }>>;
type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];

export type Agreement = [
${lines.map((line) => `  ${line}`).join("\n")}
];
`;
}

// Each check runs tsc (seconds on a loaded two-core machine); the package is built once, first.
const TSC_TIMEOUT_MS = 60_000;
beforeAll(() => builtPackage(), 120_000);

describe("the OpenAPI document and the typed client agree", () => {
  test("the app serves exactly the documented routes (besides /swagger)", () => {
    const served = routes.filter((route) => !undocumented(route.path)).map((route) => `${route.method.toLowerCase()} ${route.path}`);
    expect(served.sort()).toEqual(operations.map(({ method, path }) => `${method} ${path}`).sort());
  });

  test("each route's response schemas are the documented responses", () => {
    for (const { method, path, responses } of operations) {
      const route = routes.find((candidate) => candidate.method.toLowerCase() === method && candidate.path === path);
      expect({ method, path, statuses: Object.keys((route?.hooks as any)?.response ?? {}).sort() }).toEqual({
        method,
        path,
        statuses: Object.keys(responses).sort(),
      });
    }
  });

  test(
    "the client's types have the document's statuses, error codes, success fields and body fields",
    async () => {
      const source = assertionsFromDocument();
      // Not vacuous: one assertion per error code of every operation, at least.
      expect(source.match(/CodeOf</g)?.length).toBeGreaterThanOrEqual(35);
      const result = await typecheck({ "agreement.ts": source });
      expect(result.output).toBe("");
      expect(result.exitCode).toBe(0);
    },
    TSC_TIMEOUT_MS,
  );

  test(
    "a client type that disagrees with the document fails that check",
    async () => {
      // The same generator, against a document whose login 401 lists a code the endpoint cannot answer with.
      const login = doc.paths["/api/auth/login"].post.responses["401"].content["application/json"].schema.properties.error.properties.code;
      const original = login.enum;
      login.enum = [...original, "EMAIL_NOT_VERIFIED"];
      try {
        const source = assertionsFromDocument();
        const line = source.split("\n").findIndex((text) => text.includes('CodeOf<Client["api"]["auth"]["login"]["post"], 401>')) + 1;
        const result = await typecheck({ "agreement.ts": source });
        expect(result.exitCode).not.toBe(0);
        expect(result.diagnostics.map((d) => `${d.file}:${d.line} ${d.code}`)).toEqual([`agreement.ts:${line} TS2344`]);
      } finally {
        login.enum = original;
      }
    },
    TSC_TIMEOUT_MS,
  );
});
