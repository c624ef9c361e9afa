import { DatabaseUnavailableError } from "./errors";

/**
 * At most `slots` pieces of work at once; the others wait in line for at most `timeoutMs` and are then
 * refused before anything was sent (a transaction that got its connection only after the client was
 * told 503 would still have run).
 */
export class Admission {
  private running = 0;
  private readonly waiting: Array<{ admit: () => void }> = [];

  /** Work waiting in line (for the pool's waiting gauge). */
  get queued(): number {
    return this.waiting.length;
  }

  constructor(
    private readonly slots: number,
    private readonly timeoutMs: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.slots) await this.wait();
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next.admit();
      else this.running--;
    }
  }

  private wait(): Promise<void> {
    return new Promise((resolve, reject) => {
      const entry = {
        admit: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(entry), 1);
        reject(
          new DatabaseUnavailableError(
            `all ${this.slots} database connections stayed busy for ${this.timeoutMs} ms (DATABASE_POOL_SIZE, DATABASE_ACQUIRE_TIMEOUT)`,
          ),
        );
      }, this.timeoutMs);
      this.waiting.push(entry);
    });
  }
}
