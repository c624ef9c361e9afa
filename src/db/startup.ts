import type { Logger } from "pino";
import type { Database } from "./database";
import { DatabaseUnavailableError, describeError } from "./errors";

/** A reason not to start that waiting cannot cure (production database lacking a migration). */
export class StartupRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupRefused";
  }
}

const FIRST_RETRY_MS = 500;
const LONGEST_RETRY_MS = 10_000;
const retryDelayMs = (attempt: number) => Math.min(FIRST_RETRY_MS * 2 ** (attempt - 1), LONGEST_RETRY_MS);

/**
 * `serve` opens its port before the database is known to be usable, so that a database that comes up
 * after the service (a reboot, an outage) is waited for instead of ending the process. Until `wait`
 * has succeeded, the gated view refuses every use of the database with DatabaseUnavailableError, so
 * the API and `/health` answer 503 — also in the moment between "reachable" and "migrated".
 */
export class DatabaseStartup {
  readonly database: Database;
  private ready = false;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(private readonly inner: Database) {
    const refuse = () => new DatabaseUnavailableError("the database is not ready yet (the service is waiting for it)");
    const self = this;
    this.database = {
      kind: inner.kind,
      tables: inner.tables,
      get db() {
        if (!self.ready) throw refuse();
        return inner.db;
      },
      transaction: (work) => (self.ready ? inner.transaction(work) : Promise.reject(refuse())),
      statement: (work) => (self.ready ? inner.statement(work) : Promise.reject(refuse())),
      bookkeeping: (work) => (self.ready ? inner.bookkeeping(work) : Promise.reject(refuse())),
      ping: () => (self.ready ? inner.ping() : Promise.reject(refuse())),
      withMigrationLock: (work) => inner.withMigrationLock(work),
      backupTo: inner.backupTo?.bind(inner),
      close: () => inner.close(),
    };
  }

  /**
   * One attempt at `prepare` (reach the database, check or apply migrations): true when the database is
   * ready; false when not yet (logged with its reason and the next delay). Rejects with StartupRefused.
   */
  async attempt(logger: Logger, prepare: (database: Database) => Promise<void>, attempt = 1): Promise<boolean> {
    try {
      await this.inner.ping();
      await prepare(this.inner);
      this.ready = true;
      if (attempt > 1) logger.info({ attempt }, "database reachable: serving");
      return true;
    } catch (error) {
      if (error instanceof StartupRefused) throw error;
      logger.warn(
        { attempt, retryInMs: retryDelayMs(attempt), reason: describeError(error) },
        "database not usable yet: waiting for it (503 meanwhile)",
      );
      return false;
    }
  }

  /**
   * Goes on after `attempt` failed ones, with back-off (0.5 s, 1 s, 2 s … at most 10 s), until ready
   * (true) or stopped (false); rejects with StartupRefused.
   */
  async wait(logger: Logger, prepare: (database: Database) => Promise<void>, attempt = 1): Promise<boolean> {
    for (let next = attempt + 1; !this.stopped; next++) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryDelayMs(next - 1));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
      if (this.stopped) break;
      if (await this.attempt(logger, prepare, next)) return true;
    }
    return false;
  }

  /** Ends the waiting (shutdown). */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}
