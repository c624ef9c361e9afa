/** The compiled binary's own figures: size, cold start to the first answer, idle RSS. */
import { statSync } from "node:fs";
import { join } from "node:path";
import { freePort, memoryBytes, progress, run, type Server, spawnServer, stopServer, waitForOk } from "./proc";
import type { BinaryFigures } from "./report";
import { binaryIn, serviceEnv } from "./service";

const COLD_STARTS = 10;
const IDLE_RSS_AFTER_MS = 3_000;

async function startOnce(env: Record<string, string>, port: number, dir: string): Promise<{ server: Server; firstOkMs: number }> {
  const since = performance.now();
  const server = spawnServer({
    name: "cold start",
    command: [binaryIn(dir), "serve"],
    env: { ...env, PORT: String(port) },
    port,
    stdoutPath: join(dir, "cold.log"),
    stderrPath: join(dir, "cold.stderr"),
  });
  try {
    return { server, firstOkMs: await waitForOk(`${server.baseUrl}/health`, server, since, 15_000, 1) };
  } catch (error) {
    await stopServer(server);
    throw error;
  }
}

/** Size; cold start of `serve` on an already-migrated SQLite file (median of 10); idle RSS 3 s after start. */
export async function measureBinary(dir: string): Promise<BinaryFigures> {
  progress(`binary: ${COLD_STARTS} cold starts, idle RSS`);
  const env = serviceEnv(`file:${join(dir, "cold.db")}`, freePort());
  await run([binaryIn(dir), "migrate"], env);
  const coldStartMs: number[] = [];
  for (let start = 0; start < COLD_STARTS; start += 1) {
    const { server, firstOkMs } = await startOnce(env, freePort(), dir);
    coldStartMs.push(firstOkMs);
    await stopServer(server);
  }
  const { server, firstOkMs } = await startOnce(env, freePort(), dir);
  await Bun.sleep(Math.max(0, IDLE_RSS_AFTER_MS - firstOkMs));
  const idleRssBytes = memoryBytes(server.pid, "VmRSS");
  await stopServer(server);
  return { sizeBytes: statSync(binaryIn(dir)).size, coldStartMs, idleRssBytes };
}
