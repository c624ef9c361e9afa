import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compiledBinary, freePort, serviceTracker, waitFor } from "../support/binary";
import { freshDatabaseConfig, TEST_DIALECT } from "../support/database";

// The compiled binary on a real socket, without TRUST_PROXY: the client address that the hashing queue
// judges before a body is read is the socket's peer, as for everything else.
let binary = "";
let dir = "";
const track = serviceTracker();
beforeAll(async () => {
  binary = await compiledBinary();
  dir = mkdtempSync(join(tmpdir(), "cmf-binary-overload-"));
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A POST sent from the loopback address `from` (127.0.0.2, 127.0.0.3 …): one request per connection. */
function postFrom(from: string, port: number, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress: from }, () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      answer += chunk;
    });
    socket.on("end", () => resolve({ status: Number(answer.slice(9, 12)), body: answer.slice(answer.indexOf("\r\n\r\n") + 4) }));
    socket.on("error", reject);
  });
}

test(`a flooding address is answered 503 before its body is read; another address's body is still read (${TEST_DIALECT})`, async () => {
  const port = await freePort();
  const env = {
    PATH: "/usr/bin:/bin",
    NODE_ENV: "production",
    JWT_SECRET: "binary-test-secret-0123456789abcdef0123456789abcdef",
    DATABASE_URL: TEST_DIALECT === "sqlite" ? `file:${join(dir, "app.db")}` : (await freshDatabaseConfig()).url,
    PORT: String(port),
    HOST: "127.0.0.1",
    UNIVERSITY_DOMAINS: ".edu",
    METRICS_TOKEN: "binary-test-metrics-token",
    SHUTDOWN_DRAIN: "0",
    // One slot and the shortest line (one may wait); slow hashes (about a second each with the native
    // argon2id) keep the line standing while the test looks.
    PASSWORD_HASH_CONCURRENCY: "1",
    PASSWORD_HASH_QUEUE_TIMEOUT: "1ms",
    PASSWORD_HASH_OVERLOAD_WAIT: "1ms",
    PASSWORD_HASH_MEMORY_KIB: "65536",
    PASSWORD_HASH_TIME_COST: "60",
  };
  expect(Bun.spawnSync([binary, "migrate"], { cwd: dir, env }).exitCode).toBe(0);
  const service = track(Bun.spawn([binary, "serve"], { cwd: dir, env, stdout: "pipe", stderr: "pipe" }));
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/health/live`).catch(() => null))?.ok === true);
  const queue = async () => {
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${env.METRICS_TOKEN}` } })).text();
    return ["running", "waiting"].map((state) => Number(new RegExp(`password_hash_queue\\{state="${state}"\\} (\\d+)`).exec(text)?.[1]));
  };

  const login = JSON.stringify({ email: "nobody@mit.edu", password: "Wrong-Pass-123" });
  const flood = [postFrom("127.0.0.2", port, "/api/auth/login", login)];
  await waitFor(async () => (await queue())[0] === 1);
  flood.push(postFrom("127.0.0.2", port, "/api/auth/login", login));
  await waitFor(async () => (await queue())[1] === 1);

  const flooding = await postFrom("127.0.0.2", port, "/api/auth/login", "{not json");
  const other = await postFrom("127.0.0.3", port, "/api/auth/login", "{not json");
  expect([flooding.status, JSON.parse(flooding.body).error.code]).toEqual([503, "SERVICE_BUSY"]);
  expect([other.status, JSON.parse(other.body).error.code]).toEqual([400, "VALIDATION_ERROR"]);
  expect((await Promise.all(flood)).map((answer) => answer.status)).toEqual([401, 401]);

  service.kill("SIGTERM");
  expect(await service.exited).toBe(0);
  const lines = (await new Response(service.stdout as ReadableStream<Uint8Array>).text())
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  expect(lines.filter((line) => line.msg === "request" && line.status === 503).map((line) => line.route)).toEqual(["/api/auth/login"]);
}, 60_000);
