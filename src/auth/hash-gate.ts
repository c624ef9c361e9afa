export class HashGateBusyError extends Error {
  constructor() {
    super("password hashing is at capacity");
    this.name = "HashGateBusyError";
  }
}

export interface HashGateOptions {
  /** Password hashes computed at once (each holds its argon2id memory). */
  concurrency: number;
  /** How long a request may wait for a free slot before it is turned away. */
  queueTimeoutMs: number;
  /** Called when a request is turned away (for metrics). */
  onRejected?: () => void;
}

interface Waiter {
  start: () => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Admission control for password hashing, the one deliberately slow thing the service does. At most
 * `concurrency` hashes run; the rest wait in line (first come, first served) for at most
 * `queueTimeoutMs`, then fail with HashGateBusyError. So a flood of logins keeps the CPU busy with
 * useful hashes, costs bounded memory, answers its excess within the timeout, and leaves the event
 * loop free for every other request.
 */
export class HashGate {
  private running = 0;
  private readonly waiting = new Set<Waiter>();

  constructor(private readonly options: HashGateOptions) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  /** Hashes running and waiting, for metrics. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.size };
  }

  private acquire(): Promise<void> {
    if (this.running < this.options.concurrency && this.waiting.size === 0) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        start: resolve,
        timer: setTimeout(() => {
          this.waiting.delete(waiter);
          this.options.onRejected?.();
          reject(new HashGateBusyError());
        }, this.options.queueTimeoutMs),
      };
      this.waiting.add(waiter);
    });
  }

  private release(): void {
    const next = this.waiting.values().next().value;
    if (!next) {
      this.running--;
      return;
    }
    // The slot passes straight to the longest waiter.
    this.waiting.delete(next);
    clearTimeout(next.timer);
    next.start();
  }
}
