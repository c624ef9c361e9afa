import type { Database as SqliteClient } from "bun:sqlite";
import type { Sql } from "postgres";
import type { QueryObserver } from "../db/database";

/** What a postgres.js query looks like inside: it calls `handler(itself)` when sent, and settles through resolve/reject. */
interface PendingQuery {
  strings: readonly string[];
  handle: () => unknown;
  handler: (query: PendingQuery) => unknown;
  resolve: (value: unknown) => unknown;
  reject: (error: unknown) => unknown;
}

const isPendingQuery = (value: unknown): value is PendingQuery =>
  typeof value === "object" && value !== null && typeof (value as PendingQuery).handler === "function" && "strings" in value;

/**
 * Wraps a postgres.js client so that every statement drizzle (or our own code) runs through it, and
 * every transaction, is reported to `observer`: timed from the moment it is handed to the pool (so a
 * wait for a connection counts) until its result or error arrives. Queries stay lazy: only the
 * dispatch hook is replaced, after `.values()` and friends have had their say.
 */
export function observePostgres<T extends Sql<Record<string, unknown>>>(client: T, observer: QueryObserver): T {
  observer.poolSize?.(client.options.max);

  const observeQuery = (query: unknown, inTransaction: boolean) => {
    if (!isPendingQuery(query)) return query;
    const dispatch = query.handler;
    query.handler = (sent) => {
      const done = observer.query(sent.strings.join("?"), inTransaction);
      const { resolve, reject } = sent;
      sent.resolve = (value) => {
        done();
        return resolve(value);
      };
      sent.reject = (error) => {
        done(error);
        return reject(error);
      };
      return dispatch(sent);
    };
    return query;
  };

  const wrap = <S extends object>(sql: S, inTransaction: boolean): S =>
    new Proxy(sql, {
      apply: (target, thisArg, args) => observeQuery(Reflect.apply(target as () => unknown, thisArg, args), inTransaction),
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== "function") return value;
        if (property === "unsafe") return (...args: unknown[]) => observeQuery(value.apply(target, args), inTransaction);
        // begin(fn) / begin(options, fn), savepoint(fn) / savepoint(name, fn): the scope's sql is wrapped too.
        if (property === "begin" || property === "savepoint") {
          return (...args: unknown[]) => {
            const work = args.pop() as (tx: object) => unknown;
            const scoped = value.apply(target, [...args, (tx: object) => work(wrap(tx, true))]) as Promise<unknown>;
            if (property === "savepoint") return scoped;
            const done = observer.transaction();
            return scoped.then(
              (result) => {
                done();
                return result;
              },
              (error: unknown) => {
                done(error);
                throw error;
              },
            );
          };
        }
        return value;
      },
    });

  return wrap(client, false);
}

const STATEMENT_METHODS = new Set(["run", "all", "get", "values"]);

/** Wraps a bun:sqlite database so that each prepared statement's execution is reported (synchronous, so timed exactly). */
export function observeSqlite(client: SqliteClient, observer: QueryObserver): SqliteClient {
  return new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== "prepare" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
      return (statement: string, ...rest: unknown[]) => {
        const prepared = value.call(target, statement, ...rest) as Record<string, unknown>;
        // The executing methods are replaced on the statement itself, once: a Proxy's trap on every
        // property access cost /api/auth/me (one prepared statement per request) about a tenth of its rate.
        const record = observer.statementTimer(statement);
        for (const method of STATEMENT_METHODS) {
          const member = prepared[method];
          if (typeof member !== "function") continue;
          prepared[method] = (...params: unknown[]) => {
            const started = performance.now();
            try {
              const result = member.apply(prepared, params);
              record(performance.now() - started);
              return result;
            } catch (error) {
              record(performance.now() - started, error);
              throw error;
            }
          };
        }
        return prepared;
      };
    },
  });
}
