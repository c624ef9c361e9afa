import type { Logger } from "pino";

/*
 * Work that stays inside this process: what runs after an answer, and requests of one kind on one thing
 * taking turns. Neither is correctness across instances (the database's locks are); both spare work.
 */

/**
 * Work run after the answer: what differs between a known and an unknown address (the account's email,
 * its throttle) then costs the request nothing, so its timing tells nothing. A shutdown waits for it.
 */
export class DeferredWork {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly logger: Logger,
    private readonly background?: { begin(): void; end(): void },
  ) {}

  run(what: string, work: () => Promise<void>): void {
    this.background?.begin();
    const task = work()
      .catch((error) => this.logger.warn({ err: error instanceof Error ? error.message : "unknown", what }, "deferred work failed"))
      .finally(() => {
        this.pending.delete(task);
        this.background?.end();
      });
    this.pending.add(task);
  }

  /** Resolves when the deferred work started so far has finished. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }
}

/** Per deps (one service), the tail of the work running for each key (see oneAtATime). */
const running = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * Runs `work` after the work of the same key started before it in this process has finished: repeated
 * requests of one kind on one thing (two clicks of one link, two password changes with one token)
 * then each see what the one before did, instead of racing it.
 */
export function oneAtATime<T>(deps: object, key: string, work: () => Promise<T>): Promise<T> {
  const byKey = running.get(deps) ?? new Map<string, Promise<unknown>>();
  running.set(deps, byKey);
  const run = (byKey.get(key) ?? Promise.resolve()).then(work);
  const tail = run.catch(() => undefined);
  byKey.set(key, tail);
  void tail.then(() => {
    if (byKey.get(key) === tail) byKey.delete(key);
  });
  return run;
}
