import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO, typecheck } from "./typecheck";

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
  // A code that does not exist.
  if (login.error && login.error.value.error.code === "WRONG_PASSWORD") return; // error TS2367
  // A code that exists, but not for this endpoint at this status.
  if (login.error?.status === 401 && login.error.value.error.code === "EMAIL_NOT_VERIFIED") return; // error TS2367
  // A status this endpoint never answers with.
  if (login.error?.status === 404) return; // error TS2367
  // Data read without checking for an error first.
  console.log(login.data.token); // error TS18047
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

describe("the typed client's types", () => {
  test("wrong bodies, codes, statuses and fields fail to compile, each where expected", async () => {
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
  });

  test("correct usage compiles under the frontend's tsconfig (test/client/typed-usage.ts)", async () => {
    const result = await typecheck({}, [join(REPO, "test/client/typed-usage.ts")]);
    expect(result.output).toBe("");
    expect(result.exitCode).toBe(0);
  });

  test("the TypeScript examples of docs/integration.md compile", async () => {
    const guide = await Bun.file(join(REPO, "docs/integration.md")).text();
    const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string);
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    // A block whose first line is `// src/lib/api.ts` is that file (others import it); the rest get their own.
    const sources = Object.fromEntries(
      blocks.map((block, index) => [/^\/\/ (src\/[\w/.-]+\.ts)\n/.exec(block)?.[1] ?? `src/example-${index + 1}.ts`, block]),
    );
    const result = await typecheck(sources);
    expect(result.output).toBe("");
    expect(result.exitCode).toBe(0);
  });
});
