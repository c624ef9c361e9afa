import { describe, expect, test } from "bun:test";
import { argon2idHasher, argon2idParams } from "../../src/hashing/password-hasher";

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
