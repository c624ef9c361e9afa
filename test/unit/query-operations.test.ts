import { expect, test } from "bun:test";
import { operationOf } from "../../src/observability/database-metrics";

test("db_query_duration_seconds labels a statement with a WITH clause by what the statement itself does", () => {
  // A registration's link and email in one statement, and a counting upsert read back (src/auth/core.ts).
  expect(
    operationOf(
      'with "registration" as (insert into "users" ("id") values ($1) returning "id"), "link" as (insert into "email_tokens" ("id") values ($2) returning "id") insert into "email_outbox" ("id") values ($3)',
    ),
  ).toBe("insert");
  expect(
    operationOf(
      'with counted as (insert into "rate_limits" values ($1) on conflict do update set n = 1 returning *) select * from counted',
    ),
  ).toBe("select");
  expect(operationOf('update "email_outbox" set "locked_until" = now() where "id" in (select "id" from "email_outbox" limit 4)')).toBe(
    "update",
  );
  expect(operationOf("begin")).toBe("other");
});
