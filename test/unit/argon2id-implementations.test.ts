import { describe, expect, test } from "bun:test";
import {
  ARGON2ID_IMPLEMENTATION,
  adaptiveHasher,
  argon2idHasher,
  argon2idParams,
  bunArgon2idHasher,
  findMatchingHash,
  OWASP_MINIMUM,
  type PasswordHasher,
} from "../../src/hashing/password-hasher";

// The native argon2id (@node-rs/argon2) and Bun.password, side by side: the same PHC strings, so
// accounts keep their passwords whichever implementation made or checks their hash.
const SMALL = { memoryKib: 1024, timeCost: 2 };
const PASSWORD = "Correct-Horse-7";
/** A hash as stored before the native hasher: Bun.password, m = 19 MiB, t = 2, 32-byte salt. */
const STORED_BY_BUN =
  "$argon2id$v=19$m=19456,t=2,p=1$yw1a8qxzESxKbfOt6oQzrj48EGoOHOnJfdFhTTQZ934$UO+jDvGTzkgBV1zySZZGFDkykGfWoNm5C8b2wtncn1Y";

const native = argon2idHasher(SMALL);
const bun = bunArgon2idHasher(SMALL);
const implementations: [string, PasswordHasher, PasswordHasher][] = [
  ["native → Bun.password", native, bun],
  ["Bun.password → native", bun, native],
];
const saltOf = (hash: string) => Buffer.from(hash.split("$")[4] ?? "", "base64");

describe("argon2id: the native implementation is the default here", () => {
  test("@node-rs/argon2 loads (its prebuilt addon covers this platform) and the default hasher uses it", () => {
    expect(ARGON2ID_IMPLEMENTATION.name).toBe("@node-rs/argon2");
    expect(native.hashWithSalt).toBeFunction();
    // The fallback takes no salt: findMatchingHash then checks each hash in turn.
    expect(bun.hashWithSalt).toBeUndefined();
  });
});

describe.each(implementations)("argon2id hashes verify across implementations: %s", (_, maker, checker) => {
  test("a hash made by one verifies with the other; a wrong password does not", async () => {
    const hash = await maker.hash(PASSWORD);
    expect(argon2idParams(hash)).toEqual(SMALL);
    expect(await checker.verify(PASSWORD, hash)).toBe(true);
    expect(await checker.verify("Correct-Horse-8", hash)).toBe(false);
    expect(checker.needsRehash(hash)).toBe(false);
  });

  test("the unmatchable hash (logins for unknown emails) matches nothing with either", async () => {
    for (const password of ["", PASSWORD, "TestPass123"]) expect(await checker.verify(password, maker.unmatchableHash)).toBe(false);
  });
});

describe("argon2id: today's stored hashes", () => {
  test("a hash stored by Bun.password at the default parameters verifies with the native hasher and needs no rehash", async () => {
    const hasher = argon2idHasher(OWASP_MINIMUM);
    expect(await hasher.verify(PASSWORD, STORED_BY_BUN)).toBe(true);
    expect(await hasher.verify("correct-horse-7", STORED_BY_BUN)).toBe(false);
    expect(hasher.needsRehash(STORED_BY_BUN)).toBe(false);
    expect(argon2idHasher({ memoryKib: 47104, timeCost: 1 }).needsRehash(STORED_BY_BUN)).toBe(true);
  });

  test("an empty stored hash is no match, as with Bun.password", async () => {
    expect(await native.verify(PASSWORD, "")).toBe(false);
    expect(await bun.verify(PASSWORD, "")).toBe(false);
  });
});

describe("argon2id with the caller's salt (hashWithSalt)", () => {
  const hashWithSalt = native.hashWithSalt as NonNullable<PasswordHasher["hashWithSalt"]>;

  test("is deterministic, uses the salt and the hasher's parameters, and verifies with both implementations", async () => {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const first = await hashWithSalt(PASSWORD, salt);
    expect(await hashWithSalt(PASSWORD, salt)).toBe(first);
    expect(first).toStartWith(`$argon2id$v=19$m=1024,t=2,p=1$${Buffer.from(salt).toString("base64").replace(/=+$/, "")}$`);
    expect(await hashWithSalt(PASSWORD, crypto.getRandomValues(new Uint8Array(16)))).not.toBe(first);
    expect(await hashWithSalt("Correct-Horse-8", salt)).not.toBe(first);
    expect(await native.verify(PASSWORD, first)).toBe(true);
    expect(await bun.verify(PASSWORD, first)).toBe(true);
  });

  test("with a stored hash's salt and parameters it gives that hash byte for byte (Bun.password's included)", async () => {
    expect(await hashWithSalt(PASSWORD, saltOf(STORED_BY_BUN), OWASP_MINIMUM)).toBe(STORED_BY_BUN);
    const fresh = await bun.hash(PASSWORD);
    expect(await hashWithSalt(PASSWORD, saltOf(fresh), SMALL)).toBe(fresh);
  });
});

describe("findMatchingHash", () => {
  test("finds the hash a password matches among hashes sharing a salt (one hash) and among others", async () => {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const hashWithSalt = native.hashWithSalt as NonNullable<PasswordHasher["hashWithSalt"]>;
    const shared = await Promise.all(["First-Pass-1", "Second-Pass-2", PASSWORD].map((password) => hashWithSalt(password, salt)));
    const hashes = [await bun.hash("Other-Pass-0"), ...shared, await bun.hash(PASSWORD)];
    for (const hasher of [native, bun]) {
      expect(await findMatchingHash(hasher, PASSWORD, hashes)).toBe(3);
      expect(await findMatchingHash(hasher, "Other-Pass-0", hashes)).toBe(0);
      expect(await findMatchingHash(hasher, "Nobody-Pass-9", hashes)).toBe(-1);
    }
  });

  test("the hashes sharing a salt cost one hash with the native hasher, one each with the fallback", async () => {
    const counted = (hasher: PasswordHasher) => {
      const calls = { hashWithSalt: 0, verify: 0 };
      const { hashWithSalt } = hasher;
      const wrapped: PasswordHasher = {
        ...hasher,
        verify: (password, hash) => {
          calls.verify++;
          return hasher.verify(password, hash);
        },
        hashWithSalt:
          hashWithSalt &&
          ((password, salt, params) => {
            calls.hashWithSalt++;
            return hashWithSalt(password, salt, params);
          }),
      };
      return { wrapped, calls };
    };
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const shared = await Promise.all(
      ["First-Pass-1", "Second-Pass-2", "Third-Pass-3"].map((password) => native.hashWithSalt?.(password, salt)),
    );
    const withNative = counted(native);
    expect(await findMatchingHash(withNative.wrapped, "Second-Pass-2", shared as string[])).toBe(1);
    expect(withNative.calls).toEqual({ hashWithSalt: 1, verify: 0 });
    const withBun = counted(bun);
    expect(await findMatchingHash(withBun.wrapped, "Second-Pass-2", shared as string[])).toBe(1);
    expect(withBun.calls).toEqual({ hashWithSalt: 0, verify: 3 });
  });
});

describe("argon2id: the service keeps the quicker implementation of its host", () => {
  /** A stand-in implementation whose verifications take `ms`, counting them. */
  const stand = (ms: number, salted: boolean) => {
    const calls = { verify: 0, hash: 0 };
    const hasher: PasswordHasher = {
      ...bun,
      hash: async () => {
        calls.hash += 1;
        return bun.hash(PASSWORD);
      },
      hashWithSalt: salted ? async () => native.hash(PASSWORD) : undefined,
      verify: async () => {
        calls.verify += 1;
        await Bun.sleep(ms);
        return false;
      },
    };
    return { hasher, calls };
  };

  test("the preferred one hashes until they are timed, and another only once it is quicker by far", async () => {
    const slowNative = stand(40, true);
    const quickBun = stand(1, false);
    const hasher = adaptiveHasher(SMALL, [
      { implementation: "native", hasher: slowNative.hasher },
      { implementation: "bun", hasher: quickBun.hasher },
    ]);
    await hasher.verify(PASSWORD, "x");
    expect({ native: slowNative.calls.verify, bun: quickBun.calls.verify }).toEqual({ native: 1, bun: 0 });
    expect(hasher.hashWithSalt).toBeFunction();

    const timing = await hasher.chooseQuicker();
    expect(timing.chosen).toBe("bun");
    expect(timing.bestMs.native).toBeGreaterThan(timing.bestMs.bun as number);
    const before = { ...slowNative.calls };
    await hasher.verify(PASSWORD, "x");
    await hasher.hash(PASSWORD);
    expect(slowNative.calls).toEqual(before);
    expect(quickBun.calls.hash).toBe(1);
    // Bun.password takes no salt: registrations then hash with a random one, and checks go one by one.
    expect(hasher.hashWithSalt).toBeUndefined();
  });

  test("a quicker preferred one stays, and one implementation alone is not timed", async () => {
    const quickNative = stand(1, true);
    const slowBun = stand(40, false);
    const both = adaptiveHasher(SMALL, [
      { implementation: "native", hasher: quickNative.hasher },
      { implementation: "bun", hasher: slowBun.hasher },
    ]);
    expect((await both.chooseQuicker()).chosen).toBe("native");
    const alone = stand(1, false);
    const single = adaptiveHasher(SMALL, [{ implementation: "bun", hasher: alone.hasher }]);
    expect(await single.chooseQuicker()).toEqual({ chosen: "bun", bestMs: {} });
    expect(alone.calls.verify).toBe(0);
  });

  test("the service's hasher makes and checks hashes the same way whichever it keeps", async () => {
    const hasher = argon2idHasher(SMALL);
    const before = await hasher.hash(PASSWORD);
    await hasher.chooseQuicker();
    expect(await hasher.verify(PASSWORD, before)).toBe(true);
    expect(await bun.verify(PASSWORD, await hasher.hash(PASSWORD))).toBe(true);
    expect(await hasher.verify(PASSWORD, hasher.unmatchableHash)).toBe(false);
  });
});
