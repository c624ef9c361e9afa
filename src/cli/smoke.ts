import { VERSION } from "../version";

interface Check {
  name: string;
  run: (base: string) => Promise<void>;
}

async function request(base: string, path: string, init: RequestInit = {}) {
  const response = await fetch(new URL(path, base), { ...init, signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the checks below say what they expected
  }
  return { status: response.status, headers: response.headers, body };
}

function expectThat(condition: boolean, message: string) {
  if (!condition) throw new Error(message);
}

const json = { "content-type": "application/json" };

// Read-only checks (the one login attempt uses a random unknown address): safe against staging and production.
const CHECKS: Check[] = [
  {
    name: "GET /health answers 200 ok with the database ok",
    run: async (base) => {
      const res = await request(base, "/health");
      expectThat(res.status === 200 && res.body?.status === "ok", `got ${res.status} ${JSON.stringify(res.body)}`);
      expectThat(res.body.checks?.database === "ok", "database check is not ok");
      expectThat(Boolean(res.headers.get("x-request-id")), "no X-Request-Id header");
    },
  },
  {
    name: `the deployed version is ${VERSION}`,
    run: async (base) => {
      const res = await request(base, "/health");
      expectThat(res.body?.version === VERSION, `deployed version is ${res.body?.version}`);
    },
  },
  {
    name: "GET /health/live answers 200",
    run: async (base) => expectThat((await request(base, "/health/live")).status === 200, "not 200"),
  },
  {
    name: "POST /api/auth/register with an invalid body is 400 VALIDATION_ERROR (nothing created)",
    run: async (base) => {
      const res = await request(base, "/api/auth/register", { method: "POST", headers: json, body: "{}" });
      expectThat(res.status === 400 && res.body?.error?.code === "VALIDATION_ERROR", `got ${res.status} ${res.body?.error?.code}`);
      expectThat(res.headers.get("cache-control") === "no-store", "no Cache-Control: no-store");
    },
  },
  {
    name: "POST /api/auth/login with an unknown account is 401 INVALID_CREDENTIALS",
    run: async (base) => {
      const email = `smoke-${crypto.randomUUID()}@smoke.invalid`;
      const res = await request(base, "/api/auth/login", {
        method: "POST",
        headers: json,
        body: JSON.stringify({ email, password: "not-a-password" }),
      });
      expectThat(res.status === 401 && res.body?.error?.code === "INVALID_CREDENTIALS", `got ${res.status} ${res.body?.error?.code}`);
    },
  },
  {
    name: "GET /api/auth/me without a token is 401 UNAUTHORIZED with WWW-Authenticate",
    run: async (base) => {
      const res = await request(base, "/api/auth/me");
      expectThat(res.status === 401 && res.body?.error?.code === "UNAUTHORIZED", `got ${res.status}`);
      expectThat(res.headers.get("www-authenticate")?.startsWith("Bearer") === true, "no WWW-Authenticate: Bearer");
    },
  },
  {
    name: "an unknown path is 404 NOT_FOUND in the error shape",
    run: async (base) => {
      const res = await request(base, `/smoke-${crypto.randomUUID()}`);
      expectThat(res.status === 404 && res.body?.error?.code === "NOT_FOUND", `got ${res.status}`);
    },
  },
];

/** `classmatefinder-backend smoke URL`: the rollout's "verify deployment" step. Exit 0 when all pass. */
export async function smokeCommand(
  base: string | undefined,
  print: (line: string) => unknown = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  if (!base || !/^https?:\/\//.test(base)) {
    print("usage: classmatefinder-backend smoke <base URL, e.g. https://api.classmatefinder.com>");
    return 64;
  }
  let failed = 0;
  for (const check of CHECKS) {
    try {
      await check.run(base);
      print(`ok - ${check.name}`);
    } catch (error) {
      failed++;
      print(`not ok - ${check.name}: ${(error as Error).message}`);
    }
  }
  print(`smoke: ${CHECKS.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
