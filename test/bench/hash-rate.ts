/**
 * Isolated password-hash rate: how many argon2id verifications per second one core does, one after the
 * other, with the service's hasher (src/hashing: @node-rs/argon2, or Bun.password where it cannot
 * load). bench.ts runs it pinned to the server's CPU.
 * Usage: bun test/bench/hash-rate.ts <memoryCostKiB> <timeCost> [seconds=5]
 * Prints one JSON line: {"implementation","memoryCostKiB","timeCost","verifications","seconds","perSecond"}.
 */
import { ARGON2ID_IMPLEMENTATION, argon2idHasher } from "../../src/hashing/password-hasher";

const PASSWORD = "Bench-Pass-2026!";

export async function verificationRate(memoryCost: number, timeCost: number, seconds: number) {
  const hasher = argon2idHasher({ memoryKib: memoryCost, timeCost });
  const hash = await hasher.hash(PASSWORD);
  await hasher.verify(PASSWORD, hash); // warm-up
  let verifications = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    if (!(await hasher.verify(PASSWORD, hash))) throw new Error("verification failed");
    verifications += 1;
  }
  const elapsed = (performance.now() - start) / 1000;
  return {
    implementation: ARGON2ID_IMPLEMENTATION.name,
    memoryCostKiB: memoryCost,
    timeCost,
    verifications,
    seconds: elapsed,
    perSecond: verifications / elapsed,
  };
}
if (import.meta.main) {
  const [memory, time, seconds] = [...process.argv.slice(2), "5"].map(Number) as [number, number, number];
  if (!Number.isInteger(memory) || !Number.isInteger(time) || !(seconds > 0)) {
    console.error("usage: bun test/bench/hash-rate.ts <memoryCostKiB> <timeCost> [seconds]");
    process.exit(2);
  }
  console.log(JSON.stringify(await verificationRate(memory, time, seconds)));
}
