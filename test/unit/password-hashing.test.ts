import { describe, expect, test } from "bun:test";
import { HashGate, HashGateBusyError } from "../../src/auth/hash-gate";
import { argon2idHasher, argon2idParams } from "../../src/auth/password-hasher";

/** A job the test finishes by hand, to hold a gate slot as long as it likes. */
function manualJob() {
  let finish = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return { finish, work: () => done };
}

describe("argon2id parameters", () => {
  test("hashes carry the configured parameters, and others are marked for rehashing", async () => {
    const hasher = argon2idHasher({ memoryKib: 1024, timeCost: 2 });
    const hash = await hasher.hash("correct horse");
    expect(argon2idParams(hash)).toEqual({ memoryKib: 1024, timeCost: 2 });
    expect(hasher.needsRehash(hash)).toBe(false);
    expect(await hasher.verify("correct horse", hash)).toBe(true);

    const older = await argon2idHasher({ memoryKib: 2048, timeCost: 1 }).hash("correct horse");
    expect(hasher.needsRehash(older)).toBe(true);
    // A different hasher still verifies it: the parameters travel inside the hash.
    expect(await hasher.verify("correct horse", older)).toBe(true);
    expect(hasher.needsRehash(await Bun.password.hash("x", { algorithm: "bcrypt", cost: 4 }))).toBe(true);
  });

  test("the unmatchable hash (for unknown emails) costs a real check with the same parameters and matches nothing", async () => {
    const hasher = argon2idHasher({ memoryKib: 1024, timeCost: 2 });
    expect(argon2idParams(hasher.unmatchableHash)).toEqual({ memoryKib: 1024, timeCost: 2 });
    for (const password of ["", "password", "TestPass123"]) expect(await hasher.verify(password, hasher.unmatchableHash)).toBe(false);
    // Random per hasher: nothing to precompute against.
    expect(argon2idHasher({ memoryKib: 1024, timeCost: 2 }).unmatchableHash).not.toBe(hasher.unmatchableHash);
  });

  test("the default is the OWASP minimum: m = 19 MiB, t = 2, p = 1", async () => {
    expect(await argon2idHasher().hash("x")).toStartWith("$argon2id$v=19$m=19456,t=2,p=1$");
  });
});

describe("HashGate", () => {
  test("runs at most `concurrency` jobs at once; the rest start in arrival order", async () => {
    const gate = new HashGate({ concurrency: 2, queueTimeoutMs: 10_000 });
    const jobs = [manualJob(), manualJob(), manualJob(), manualJob()];
    const started: number[] = [];
    const runs = jobs.map((job, index) =>
      gate.run(() => {
        started.push(index);
        return job.work();
      }),
    );
    await Bun.sleep(1);
    expect(started).toEqual([0, 1]);
    expect(gate.load).toEqual({ running: 2, waiting: 2 });
    jobs[1]?.finish();
    await Bun.sleep(1);
    expect(started).toEqual([0, 1, 2]);
    for (const job of jobs) job.finish();
    await Promise.all(runs);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  test("a job that cannot start within the queue timeout is turned away, and counted", async () => {
    let rejected = 0;
    const gate = new HashGate({ concurrency: 1, queueTimeoutMs: 20, onRejected: () => rejected++ });
    const holder = manualJob();
    const running = gate.run(holder.work);
    const waiting = gate.run(async () => "never");
    await expect(waiting).rejects.toBeInstanceOf(HashGateBusyError);
    await waiting.catch(() => {});
    expect(rejected).toBe(1);
    expect(gate.load).toEqual({ running: 1, waiting: 0 });
    holder.finish();
    await running;
    // Free again: the next job starts at once.
    expect(await gate.run(async () => "ran")).toBe("ran");
  });

  test("a failing job frees its slot", async () => {
    const gate = new HashGate({ concurrency: 1, queueTimeoutMs: 1000 });
    await expect(gate.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run(async () => 1)).toBe(1);
  });
});
