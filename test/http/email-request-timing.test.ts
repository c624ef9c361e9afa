import { describe, expect, test } from "bun:test";
import type { Database } from "../../src/db/database";
import { createTestApp } from "../support/app";
import { openTestDatabase } from "../support/database";

// Finding 9: forgot-password and resend-verification took longer for existing addresses, because their
// answer waited for the email to be queued. Now the answer does the same work for every address, and
// the account's email is queued after it. Shown without measuring time: with every database write held
// back, the answer for an existing address still arrives.
async function appWithHeldWrites() {
  const real = await openTestDatabase();
  let release: () => void = () => {};
  let held: Promise<void> | null = null;
  const database: Database = {
    ...real,
    transaction: async (work) => {
      if (held) await held;
      return real.transaction(work);
    },
  };
  const app = await createTestApp({ database });
  const hold = () => {
    held = new Promise((resolve) => {
      release = resolve;
    });
  };
  return { app, hold, release: () => release() };
}

const STILL_WAITING = Symbol("still waiting");
const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<typeof STILL_WAITING>((resolve) => setTimeout(() => resolve(STILL_WAITING), ms))]);

describe("email requests answer without waiting for the account's email", () => {
  test.each([
    ["/api/auth/forgot-password", "reset_password", true],
    ["/api/auth/resend-verification", "verify_email", false],
  ] as const)("%s", async (path, kind, verify) => {
    const { app, hold, release } = await appWithHeldWrites();
    const { email } = await app.registerUser({ verify });
    const before = app.mail.sent.filter((m) => m.kind === kind).length;
    hold();
    const request = (address: string) =>
      app.app.handle(
        new Request(`http://localhost${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: address }),
        }),
      );
    const known = await within(request(email), 5000);
    const unknown = await within(request("nobody.at.all@ualberta.ca"), 5000);
    // The deferred email counts as work in flight: a shutdown waits for it before closing the database.
    let idle = false;
    void app.inFlight.idle().then(() => {
      idle = true;
    });
    await Bun.sleep(50);
    expect(idle).toBe(false);
    release();
    await app.inFlight.idle();
    expect(known).not.toBe(STILL_WAITING);
    expect(unknown).not.toBe(STILL_WAITING);
    const [knownRes, unknownRes] = [known, unknown] as Response[];
    expect(knownRes?.status).toBe(202);
    expect(await knownRes?.text()).toBe(await unknownRes?.text());
    // The email still goes out.
    await app.auth.deferred.settled();
    await app.outbox.deliverDue();
    expect(app.mail.sent.filter((m) => m.kind === kind && m.to === email).length).toBe(before + 1);
  });
});
