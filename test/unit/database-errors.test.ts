import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openDatabase } from "../../src/db/database";
import { DatabaseUnavailableError, describeError, isDatabaseUnavailable } from "../../src/db/errors";
import { freePort } from "../support/pgbouncer";

const refused = (address: string) => Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: "ECONNREFUSED" });

describe("database errors carry their reason", () => {
  test("an AggregateError (localhost tried as ::1 and 127.0.0.1) is described by its members", () => {
    const error = new AggregateError([refused("::1:5432"), refused("127.0.0.1:5432")], "");
    expect(describeError(error)).toBe("connect ECONNREFUSED ::1:5432: connect ECONNREFUSED 127.0.0.1:5432");
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  test("wrapped errors: the cause is named, query parameters are not", () => {
    const error = new Error("Failed query: select 1 where email = $1\nparams: ada@mit.edu", { cause: refused("127.0.0.1:5432") });
    expect(describeError(error)).toBe("Failed query: select 1 where email = $1: connect ECONNREFUSED 127.0.0.1:5432");
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(isDatabaseUnavailable(new DatabaseUnavailableError("pool exhausted"))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error("duplicate key"), { code: "23505" }))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error("the database system is starting up"), { code: "57P03" }))).toBe(true);
  });

  test("a PostgreSQL server that does not listen: the driver's error is an unavailability with a reason", async () => {
    const database = openDatabase({ kind: "postgres", url: `postgres://root@localhost:${await freePort()}/nothing` });
    try {
      const error = await database.ping().then(
        () => null,
        (reason: unknown) => reason,
      );
      expect(isDatabaseUnavailable(error)).toBe(true);
      expect(describeError(error)).toMatch(/ECONNREFUSED|refused/i);
    } finally {
      await database.close();
    }
  });

  test("`check` against it prints the reason, not an empty message", async () => {
    const result = Bun.spawnSync([process.execPath, join(import.meta.dir, "..", "..", "src", "main.ts"), "check"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", DATABASE_URL: `postgres://root@localhost:${await freePort()}/nothing` },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.toString()).toMatch(/cannot open the database: .*(ECONNREFUSED|refused)/i);
  });
});
