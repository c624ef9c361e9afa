import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGuide } from "./guide";
import { builtPackage, NODE_COMPILER_OPTIONS, type Project, REPO, runTsc, typecheck } from "./typecheck";

/**
 * Mistakes a frontend could make. Each line marked `// error TSxxxx` must fail to compile with that code,
 * and nothing else may fail: loose types (`any`, a generic error shape) would let every line compile.
 * Written to a temporary directory at test time, so `bun run typecheck` never sees it.
 */
const MISTAKES = `import { createClient } from "@classmatefinder/api";

const api = createClient("http://localhost:5000");

export async function mistakes(): Promise<void> {
  // A misspelled body field.
  await api.api.auth.register.post({ email: "ada@ualberta.ca", username: "ada", password: "TestPass123", firstNme: "Ada" }); // error TS2561
  // A missing body field.
  await api.api.auth["reset-password"].post({ token: "abc" }); // error TS2741
  const login = await api.api.auth.login.post({ email: "ada@ualberta.ca", password: "TestPass123" });
  // The error body read before ruling out a network failure (no response, so no body).
  if (login.error && login.error.value.error.code === "INVALID_CREDENTIALS") return; // error TS2339
  // A code that does not exist.
  if (login.error?.status === 401 && login.error.value.error.code === "WRONG_PASSWORD") return; // error TS2367
  // A code that exists, but not for this endpoint at this status.
  if (login.error?.status === 401 && login.error.value.error.code === "EMAIL_NOT_VERIFIED") return; // error TS2367
  // A status this endpoint never answers with.
  if (login.error?.status === 404) return; // error TS2367
  // Data read without checking for an error first.
  console.log(login.data.token); // error TS18047
  // Retry-After read where the API does not send it.
  if (login.error?.status === 403) console.log(login.error.retryAfter); // error TS2339
  // The response read without ruling out a network failure.
  console.log(login.response.headers.get("x-request-id")); // error TS18047
  const me = await api.api.auth.me.get();
  // A field the public user does not have.
  if (me.data) console.log(me.data.user.passwordHash); // error TS2339
  // An endpoint that does not exist.
  await api.api.auth.profile.get(); // error TS2339
}
`;

const expectedErrors = (source: string) =>
  source
    .split("\n")
    .flatMap((line, index) => [...line.matchAll(/\/\/ error (TS\d+)$/g)].map((match) => `fixture.ts:${index + 1} ${match[1]}`));

// Each check runs tsc (seconds on a loaded two-core machine); the package is built once, first.
const TSC_TIMEOUT_MS = 60_000;
beforeAll(() => builtPackage(), 120_000);

describe("the typed client's types", () => {
  test(
    "wrong bodies, codes, statuses and fields fail to compile, each where expected",
    async () => {
      const result = await typecheck({ "fixture.ts": MISTAKES });
      expect(result.exitCode).not.toBe(0);
      const found = result.diagnostics.map((d) => `${d.file}:${d.line} ${d.code}`);
      expect(found.sort()).toEqual(expectedErrors(MISTAKES).sort());
      // The messages name the offending literals: the types are precise, not merely present.
      const messages = result.diagnostics.map((d) => d.message).join("\n");
      expect(messages).toContain("firstNme");
      expect(messages).toContain('"WRONG_PASSWORD"');
      expect(messages).toContain('"EMAIL_NOT_VERIFIED"');
      expect(messages).toContain("passwordHash");
    },
    TSC_TIMEOUT_MS,
  );

  // Issue 29: under NodeNext the declarations' `./types` import did not resolve (TS2834 with skipLibCheck
  // off; with it on, every call was `any` and every mistake above compiled).
  const MODULES: [string, Project][] = [
    ["module NodeNext, an ES module project (tsc --init)", { compilerOptions: NODE_COMPILER_OPTIONS, type: "module" }],
    ["module Node16, an ES module project", { compilerOptions: { ...NODE_COMPILER_OPTIONS, module: "node16" }, type: "module" }],
    [
      "module Preserve, moduleResolution Bundler",
      { compilerOptions: { ...NODE_COMPILER_OPTIONS, module: "preserve", moduleResolution: "bundler" } },
    ],
    [
      "module ESNext, moduleResolution Bundler",
      { compilerOptions: { ...NODE_COMPILER_OPTIONS, module: "esnext", moduleResolution: "bundler" } },
    ],
    // Node 20.19 and 22.12 require() an ES module; NodeNext knows (Node16 does not: TS1479, use import()).
    [
      "module NodeNext, a CommonJS project",
      { compilerOptions: { ...NODE_COMPILER_OPTIONS, verbatimModuleSyntax: false, isolatedModules: false }, type: "commonjs" },
    ],
  ];
  test.each(MODULES)(
    "%s, skipLibCheck off: correct usage compiles and each mistake fails where expected",
    async (_name, project) => {
      const usage = await Bun.file(join(REPO, "test/client/typed-usage.ts")).text();
      const result = await typecheck({ "fixture.ts": MISTAKES, "typed-usage.ts": usage }, [], project);
      const found = result.diagnostics.map((d) => `${d.file}:${d.line} ${d.code}`);
      expect({ found: found.sort(), output: result.diagnostics.length === 0 ? result.output : "" }).toEqual({
        found: expectedErrors(MISTAKES).sort(),
        output: "",
      });
    },
    TSC_TIMEOUT_MS,
  );

  test(
    "correct usage compiles under the frontend's tsconfig (test/client/typed-usage.ts)",
    async () => {
      const result = await typecheck({ "typed-usage.ts": await Bun.file(join(REPO, "test/client/typed-usage.ts")).text() });
      expect(result.output).toBe("");
      expect(result.exitCode).toBe(0);
    },
    TSC_TIMEOUT_MS,
  );

  test(
    "the TypeScript examples of the guide (docs/integration.md and docs/integration-*.md) compile",
    async () => {
      const guide = await readGuide();
      const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string);
      expect(blocks.length).toBeGreaterThanOrEqual(5);
      // A block whose first line is `// src/lib/api.ts` is that file (others import it); the rest get their own.
      const sources = Object.fromEntries(
        blocks.map((block, index) => [/^\/\/ ((?:src|server)\/[\w/.-]+\.ts)\n/.exec(block)?.[1] ?? `src/example-${index + 1}.ts`, block]),
      );
      // Two blocks naming the same file would keep only the last: every block is compiled.
      expect(Object.keys(sources)).toHaveLength(blocks.length);
      const result = await typecheck(sources);
      expect(result.output).toBe("");
      expect(result.exitCode).toBe(0);
      // The one declaration file of the guide needs Vite's types: the fixture project compiles it, verbatim.
      const viteEnv = /```text\n\/\/ src\/vite-env\.d\.ts\n([\s\S]*?)```/.exec(guide)?.[1];
      expect(viteEnv).toBe(await Bun.file(join(REPO, "test/frontend-fixture/src/vite-env.d.ts")).text());
    },
    TSC_TIMEOUT_MS,
  );

  test(
    "the package's declarations are the server's types, expanded: the same client, routes and codes",
    async () => {
      // Both sides in one program that has the server's sources (and bun-types): the source types, read
      // from the server, against the built declarations that a frontend gets.
      const pkg = await builtPackage();
      const dir = await mkdtemp(join(tmpdir(), "cmf-client-same-"));
      try {
        const source = join(REPO, "packages/client/src/index.ts");
        const built = join(pkg, "dist/index.d.ts");
        await writeFile(
          join(dir, "same.ts"),
          `import type * as Source from ${JSON.stringify(source)};
import type * as Built from ${JSON.stringify(built)};
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
export type Same = [
  Expect<Equal<Built.ApiRoutes, Source.ApiRoutes>>,
  Expect<Equal<Built.Client, Source.Client>>,
  Expect<Equal<Built.ErrorCode, Source.ErrorCode>>,
  Expect<Equal<Built.PublicUser, Source.PublicUser>>,
  Expect<Equal<Built.Session, Source.Session>>,
  Expect<Equal<Built.ClientOptions, Source.ClientOptions>>,
];
`,
        );
        const compilerOptions = {
          target: "ESNext",
          module: "Preserve",
          moduleResolution: "bundler",
          types: [join(REPO, "node_modules/bun-types")],
          strict: true,
          skipLibCheck: true,
          noEmit: true,
          resolveJsonModule: true,
          allowImportingTsExtensions: true,
        };
        await writeFile(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["same.ts", join(REPO, "src/assets.d.ts")] }));
        const result = await runTsc(dir);
        expect(result.output).toBe("");
        expect(result.exitCode).toBe(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    TSC_TIMEOUT_MS,
  );

  test(
    "the package is versioned with the API, and its declarations import nothing from outside it",
    async () => {
      const pkg = await builtPackage();
      const api = await Bun.file(join(REPO, "package.json")).json();
      expect((await Bun.file(join(pkg, "package.json")).json()).version).toBe(api.version);
      const files = (await readdir(join(pkg, "dist"))).sort();
      expect(files).toEqual(["index.d.ts", "index.js", "server-types.d.ts", "types.d.ts"]);
      for (const file of files) {
        const text = await Bun.file(join(pkg, "dist", file)).text();
        const specifiers = [...text.matchAll(/(?:from|import\()\s*["']([^"']+)["']/g)].map((match) => match[1]);
        expect({ file, outside: specifiers.filter((specifier) => !specifier?.startsWith("./")) }).toEqual({ file, outside: [] });
      }
    },
    TSC_TIMEOUT_MS,
  );
});
