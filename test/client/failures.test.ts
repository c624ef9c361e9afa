import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@classmatefinder/api";
import { builtPackage } from "./typecheck";

// How the client reports what goes wrong below the API's own errors: no response at all, a response
// that is not the API's, and the 503 it retries once by itself.

/** A port with nothing listening on it: connecting is refused at once. */
function closedPort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

const ERROR_HEADERS = { "content-type": "application/json" };
const busy = (retryAfter: string) =>
  new Response(JSON.stringify({ error: { code: "SERVICE_BUSY", message: "The service is busy." } }), {
    status: 503,
    headers: { ...ERROR_HEADERS, "retry-after": retryAfter },
  });
const session = () =>
  new Response(
    JSON.stringify({
      token: "t",
      tokenType: "Bearer",
      expiresAt: "2030-01-01T00:00:00.000Z",
      user: {
        id: "u",
        email: "ada@mit.edu",
        username: "ada",
        firstName: "Ada",
        lastName: null,
        emailVerified: true,
        createdAt: "2026-01-01T00:00:00.000Z",
      },
    }),
    { status: 200, headers: ERROR_HEADERS },
  );

/** A fetcher that answers from a script, and counts the requests it was given. */
function scripted(...answers: (() => Response)[]) {
  const calls: string[] = [];
  const fetcher = async (url: string, init: RequestInit) => {
    calls.push(`${init.method} ${new URL(url).pathname}`);
    const next = answers.shift();
    if (!next) throw new Error("no more answers");
    return next();
  };
  return { calls, fetcher };
}

const LOGIN = { email: "ada@mit.edu", password: "TestPass123" };

describe("failures without an answer of the API", () => {
  test("the API unreachable: a network failure with the thrown error, no status and no response", async () => {
    const api = createClient(`http://127.0.0.1:${closedPort()}`);
    const result = await api.api.auth["verify-email"].post({ token: "x".repeat(43), password: "TestPass123" });
    expect(result.data).toBeNull();
    expect(result.status).toBeNull();
    expect(result.response).toBeNull();
    if (result.error?.status !== "network") throw new Error(`expected a network failure, got ${JSON.stringify(result.error)}`);
    expect(result.error.cause).toBeInstanceOf(Error);
    expect(result.error.cause.message).not.toBe("");
  });

  test("a fetcher that throws something other than an Error still gives an Error as the cause", async () => {
    const api = createClient("http://api.test", { fetcher: () => Promise.reject("offline") });
    const { error } = await api.api.auth.me.get();
    expect(error?.status).toBe("network");
    expect(error?.status === "network" && error.cause.message).toBe("offline");
  });

  test("an aborted request is a network failure too", async () => {
    const controller = new AbortController();
    controller.abort();
    const api = createClient(`http://127.0.0.1:${closedPort()}`);
    const { error } = await api.api.auth.login.post(LOGIN, { signal: controller.signal });
    expect(error?.status === "network" && error.cause.name).toBe("AbortError");
  });

  test("a proxy's HTML 502 page is an unexpected response, with its HTTP status", async () => {
    const { fetcher } = scripted(() => new Response("<html>Bad Gateway</html>", { status: 502, headers: { "content-type": "text/html" } }));
    const result = await createClient("http://api.test", { fetcher }).api.auth.login.post(LOGIN);
    expect(result.error).toEqual({ status: "unexpected", httpStatus: 502 });
    expect(result.status).toBe(502);
    expect(result.response?.status).toBe(502);
  });
});

describe("JSON answers of the API at any status are its own", () => {
  test("/health's 503 is an HTTP error with the health body, not an unexpected response", async () => {
    const body = { status: "unavailable", version: "0.1.0", uptimeSeconds: 1, checks: { database: "error" } };
    const { fetcher } = scripted(() => new Response(JSON.stringify(body), { status: 503, headers: ERROR_HEADERS }));
    const { error } = await createClient("http://api.test", { fetcher, retry: false }).health.get();
    expect(error).toEqual({ status: 503, value: body, retryAfter: 1, retried: false } as any);
  });
});

describe("successes that are not the API's", () => {
  test("a 200 HTML page (the base URL points at the frontend's own server) is an unexpected response", async () => {
    const { fetcher } = scripted(
      () => new Response("<!doctype html><div id=root>", { status: 200, headers: { "content-type": "text/html" } }),
    );
    const result = await createClient("http://localhost:5173", { fetcher }).api.auth.me.get();
    expect(result.data).toBeNull();
    expect(result.error).toEqual({ status: "unexpected", httpStatus: 200 });
  });
});

describe("the built-in retry of a 503", () => {
  test("a 503 is sent once more after Retry-After; the second answer is the result", async () => {
    const { calls, fetcher } = scripted(() => busy("0"), session);
    const result = await createClient("http://api.test", { fetcher }).api.auth.login.post(LOGIN);
    expect(calls).toEqual(["POST /api/auth/login", "POST /api/auth/login"]);
    expect(result.error).toBeNull();
    expect(result.data?.user.username).toBe("ada");
  });

  test("only once: a second 503 is the result, with retryAfter and retried: true", async () => {
    const { calls, fetcher } = scripted(
      () => busy("0"),
      () => busy("0"),
    );
    const { error } = await createClient("http://api.test", { fetcher }).api.auth.login.post(LOGIN);
    expect(calls.length).toBe(2);
    expect(error).toMatchObject({ status: 503, retryAfter: 0, retried: true, value: { error: { code: "SERVICE_BUSY" } } });
  });

  test("no retry when Retry-After is above maxDelaySeconds, nor with retry: false", async () => {
    const long = scripted(() => busy("30"));
    const first = await createClient("http://api.test", { fetcher: long.fetcher }).api.auth.login.post(LOGIN);
    expect(long.calls.length).toBe(1);
    expect(first.error).toMatchObject({ status: 503, retryAfter: 30, retried: false });

    const off = scripted(() => busy("0"));
    const second = await createClient("http://api.test", { fetcher: off.fetcher, retry: false }).api.auth.login.post(LOGIN);
    expect(off.calls.length).toBe(1);
    expect(second.error).toMatchObject({ status: 503, retried: false });
  });

  test("an abort during the wait ends it at once, as a network failure", async () => {
    const controller = new AbortController();
    const { calls, fetcher } = scripted(() => {
      queueMicrotask(() => controller.abort());
      return busy("5");
    });
    const { error } = await createClient("http://api.test", { fetcher }).api.auth.login.post(LOGIN, { signal: controller.signal });
    expect(calls.length).toBe(1);
    expect(error?.status).toBe("network");
  });

  test("a 429 is not retried: its Retry-After is the caller's to show", async () => {
    const { calls, fetcher } = scripted(
      () =>
        new Response(JSON.stringify({ error: { code: "RATE_LIMITED", message: "Too many attempts." } }), {
          status: 429,
          headers: { ...ERROR_HEADERS, "retry-after": "840" },
        }),
    );
    const { error } = await createClient("http://api.test", { fetcher }).api.auth.login.post(LOGIN);
    expect(calls.length).toBe(1);
    expect(error).toMatchObject({ status: 429, retryAfter: 840, retried: false });
  });
});

describe("requests", () => {
  test("the token from getToken, JSON bodies, and no body (nor content type) for body-less calls", async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const fetcher = async (url: string, init: RequestInit) => {
      seen.push({ url, init });
      return new Response(null, { status: 204 });
    };
    const api = createClient("http://api.test/", { fetcher, getToken: () => "jwt" });
    const out = await api.api.auth.logout.post();
    expect(out).toMatchObject({ error: null, status: 204, data: undefined });
    await api.api.auth["reset-password"].post({ token: "t", password: "Correct-Horse-42" }, { headers: { "x-request-id": "r1" } });
    expect(seen.map(({ url, init }) => [url, init.method, init.headers, init.body])).toEqual([
      ["http://api.test/api/auth/logout", "POST", { authorization: "Bearer jwt" }, undefined],
      [
        "http://api.test/api/auth/reset-password",
        "POST",
        { authorization: "Bearer jwt", "content-type": "application/json", "x-request-id": "r1" },
        '{"token":"t","password":"Correct-Horse-42"}',
      ],
    ]);
  });

  test("the client is not a thenable: awaiting a path does not send anything", async () => {
    const { calls, fetcher } = scripted();
    const api = createClient("http://api.test", { fetcher });
    const auth = api.api.auth;
    expect(await Promise.resolve(auth)).toBe(auth);
    expect(calls).toEqual([]);
  });
});

describe("the built package (dist/index.js) behaves as its sources", () => {
  test("network failure, 503 retry and a typed error through the shipped JavaScript", async () => {
    const built: { createClient: typeof createClient } = await import(join(await builtPackage(), "dist/index.js"));
    const offline = await built.createClient(`http://127.0.0.1:${closedPort()}`).api.auth.me.get();
    expect(offline.error?.status).toBe("network");
    const { calls, fetcher } = scripted(
      () => busy("0"),
      () =>
        new Response(JSON.stringify({ error: { code: "INVALID_CREDENTIALS", message: "No." } }), { status: 401, headers: ERROR_HEADERS }),
    );
    const { error } = await built.createClient("http://api.test", { fetcher }).api.auth.login.post(LOGIN);
    expect(calls.length).toBe(2);
    expect(error).toEqual({ status: 401, value: { error: { code: "INVALID_CREDENTIALS", message: "No." } } } as any);
  }, 120_000);
});
