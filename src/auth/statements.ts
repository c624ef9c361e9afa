import { eq, getTableColumns, sql } from "drizzle-orm";
import type { Database } from "../db/database";
import { countingUpsert } from "../ratelimit/limiter";

/** The statements every login or authenticated request runs, prepared once on first use. */
export function prepareStatements(database: Database) {
  const once = <T>(build: () => T) => {
    let built: T | undefined;
    return () => {
      built ??= build();
      return built;
    };
  };
  // `database.db` is read on first use only: at start the database may not be usable yet (DatabaseStartup).
  const { users, revokedTokens } = database.tables;
  return {
    usersByEmail: once(() =>
      database.db
        .select()
        .from(users)
        .where(eq(users.email, sql.placeholder("email")))
        .orderBy(users.createdAt)
        .prepare("users_by_email"),
    ),
    userById: once(() =>
      database.db
        .select()
        .from(users)
        .where(eq(users.id, sql.placeholder("id")))
        .prepare("user_by_id"),
    ),
    /**
     * A login's two counter hits and the rows of its email, in one statement (PostgreSQL; see
     * enforceLimitsAndFindAddress). The upsert's RETURNING, relaxed commit included, is evaluated whether
     * or not the outer SELECT reads it: a data-modifying CTE always runs to completion.
     */
    countingLookup: once(() => {
      const { db } = database;
      const hits = db.$with("hits").as(countingUpsert(database, 2));
      return db
        .with(hits)
        .select({ key: hits.key, count: hits.count, expiresAt: hits.expiresAt, user: getTableColumns(users) })
        .from(hits)
        .leftJoin(users, eq(users.email, sql.placeholder("email")))
        .prepare("login_count_and_lookup");
    }),
    /** Every authenticated request runs this: one round trip for the user and the revocation. */
    sessionLookup: once(() =>
      database.db
        .select({
          ...getTableColumns(users),
          revoked: sql<boolean>`exists (select 1 from ${revokedTokens} where ${revokedTokens.jti} = ${sql.placeholder("jti")})`.mapWith(
            Boolean,
          ),
        })
        .from(users)
        .where(eq(users.id, sql.placeholder("userId")))
        .prepare("session_lookup"),
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
