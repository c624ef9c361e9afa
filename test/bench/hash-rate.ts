/**
 * Isolated password-hash rate: how many argon2id verifications per second one core does, one after the
 * other, with Bun.password (the service's hasher). bench.ts runs it pinned to the server's CPU.
 * Usage: bun test/bench/hash-rate.ts <memoryCostKiB> <timeCost> [seconds=5]
 * Prints one JSON line: {"memoryCostKiB","timeCost","verifications","seconds","perSecond"}.
 */
const PASSWORD = "Bench-Pass-2026!";

export async function verificationRate(memoryCost: number, timeCost: number, seconds: number) {
  const hash = await Bun.password.hash(PASSWORD, { algorithm: "argon2id", memoryCost, timeCost });
  await Bun.password.verify(PASSWORD, hash, "argon2id"); // warm-up
  let verifications = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    if (!(await Bun.password.verify(PASSWORD, hash, "argon2id"))) throw new Error("verification failed");
    verifications += 1;
  }
  const elapsed = (performance.now() - start) / 1000;
  return { memoryCostKiB: memoryCost, timeCost, verifications, seconds: elapsed, perSecond: verifications / elapsed };
}

if (import.meta.main) {
  const [memory, time, seconds] = [...process.argv.slice(2), "5"].map(Number) as [number, number, number];
  if (!Number.isInteger(memory) || !Number.isInteger(time) || !(seconds > 0)) {
    console.error("usage: bun test/bench/hash-rate.ts <memoryCostKiB> <timeCost> [seconds]");
    process.exit(2);
  }
  console.log(JSON.stringify(await verificationRate(memory, time, seconds)));
}
