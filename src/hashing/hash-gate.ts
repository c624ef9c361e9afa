import { FairQueue, type Waiter } from "./fair-queue";

export type BusyReason = "queue_full" | "overload" | "fair_share";

export class HashGateBusyError extends Error {
  constructor(
    /** When the requests in line now will have been served: the honest Retry-After. */
    readonly retryAfterSeconds: number,
    readonly reason: BusyReason,
  ) {
    super("password hashing is at capacity");
    this.name = "HashGateBusyError";
  }
}

/** How long a job held its slot, whether it ran alone (nothing else running or waiting), and whether it hashed. */
interface HashTiming {
  ms: number;
  alone: boolean;
  hashed: boolean;
}

/** Who a hash is for: the fairness keys. */
export interface HashSource {
  client: string;
  /** The account the password belongs to (an email address, registered or not). */
  account?: string;
}

export interface HashGateOptions {
  /** Password hashes computed at once (each holds its argon2id memory). */
  concurrency: number;
  /**
   * A request is admitted while the hashing ahead of it would be done within this time, so a burst
   * that the host works off within it is served in full. Also the interval of the overload detector.
   */
  queueTimeoutMs: number;
  /** Under sustained overload the queue is cut to this much waiting; the excess is turned away at once. */
  overloadWaitMs: number;
  /** What one hash is expected to hold its slot for until one has been measured. */
  initialHashMs: number;
  /** Milliseconds from any origin (tests pass a manual one). */
  now?: () => number;
  /** Called for every request turned away (for metrics). */
  onRejected?: (reason: BusyReason) => void;
}

/** The queue is "standing" while its backlog stays above this fraction of the queue timeout. */
const STANDING_FRACTION = 1 / 3;
/** The last places of a nearly full queue are kept for the sources that are not filling it. */
const RESERVED_SHARE = 0.1;
/** One client address or account runs at most this share of the slots while others wait. */
const SLOT_SHARE = 0.25;
/** Weight of the newest measured hash in the running estimate. */
const HASH_TIME_WEIGHT = 0.2;
/** Whatever the estimate says, memory stays bounded. */
const MAX_WAITING = 5_000;
const MAX_RETRY_AFTER_SECONDS = 60;
/** Idle this long, the gate forgets hold times measured under load. */
const IDLE_RESET_MS = 1_000;

/**
 * Admission control for password hashing, the one deliberately slow thing the service does.
 *
 * At most `concurrency` hashes run; the rest wait in a fair queue (round-robin per client address).
 * The queue's length is derived from the measured hash time: it admits as much as the slots hash in
 * `queueTimeoutMs`, so a burst is queued and served, never turned away. Sustained overload is told
 * apart from a burst the way CoDel does it, by the queue *standing*: when the backlog has stayed above
 * a third of the timeout for longer than the whole timeout and overflowed or did not drain, arrivals
 * have exceeded the hash rate for longer than any burst that fits. The queue is then held to
 * `overloadWaitMs` of waiting, until a whole timeout passes in which it turns nobody away, and the
 * excess is answered at once with an honest Retry-After. These limits hold the heaviest source (the
 * client address or account with the most waiting), and the last tenth of the queue is kept for
 * the others; a lighter source is let in and served round-robin, and only a queue at its full
 * length makes the heaviest give up its newest place (longest-queue drop). So a flood from one
 * source cannot make others fail; and while others wait, no source gets more than a quarter of
 * the slots.
 */
export class HashGate {
  private readonly queue = new FairQueue();
  private readonly runningBy = new Map<string, number>();
  private running = 0;
  /** Moving average of how long jobs hold their slot: the drain rate under the current load. */
  private hashMs: number;
  /** The same, of hashes that ran alone (no other hash running or waiting): what an idle host does. */
  private idleHashMs: number;
  private measured = false;
  /** Since when nothing has run or waited; null while busy. */
  private idleSince: number | null = null;
  /**
   * Since when the backlog has stood above its threshold, the longest the queue has been since, and
   * whether it overflowed (turned an arrival away, or made one give up its place) in that time.
   */
  private standing: { since: number; peak: number; overflowed: boolean } | null = null;
  private overloaded = false;
  /** When an arrival was last turned away or pushed out. */
  private lastShedAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  private readonly slotShare: number;
  /** Requests turned away per client address since `shedSince` (one queue timeout at most). */
  private readonly shedBy = new Map<string, number>();
  private shedSince = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: HashGateOptions) {
    this.now = options.now ?? (() => performance.now());
    this.hashMs = Math.max(1, options.initialHashMs);
    this.idleHashMs = this.hashMs;
    this.slotShare = Math.max(1, Math.ceil(options.concurrency * SLOT_SHARE));
  }

  async run<T>(source: HashSource, work: () => Promise<T>): Promise<T> {
    await this.admit(source);
    const started = this.now();
    const aloneAtStart = this.running === 1 && this.queue.size === 0;
    // Work that completes has hashed (each caller's work ends in its hash); work that throws was
    // decided before it (a 429, a 409) and says nothing about how long a hash takes.
    let hashed = false;
    try {
      const result = await work();
      hashed = true;
      return result;
    } finally {
      // The slot goes to the next in line first: its work up to its hash (a few statements) runs
      // before the caller's work after this hash, so the hashing thread does not sit idle meanwhile.
      if (this.finish(source, { ms: this.now() - started, alone: aloneAtStart, hashed })) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /**
   * Measures a hash (`sample`) as the starting estimate, unless real hashes have already been timed:
   * the quicker of two, because a process's first hash also allocates its memory and starts the thread.
   */
  async calibrate(sample: () => Promise<unknown>): Promise<void> {
    if (this.measured) return;
    let quickest = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 2; round++) {
      const started = this.now();
      await sample();
      quickest = Math.min(quickest, this.now() - started);
    }
    if (!this.measured) this.recordHashTime({ ms: quickest, alone: true, hashed: true });
  }

  /** Hashes running and waiting, for metrics. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.size };
  }

  /** The admission state, for metrics and tests. */
  get status(): { limit: number; overloaded: boolean; hashSeconds: number } {
    this.observe();
    return { limit: this.limit(), overloaded: this.overloaded, hashSeconds: this.hashMs / 1000 };
  }

  /** How many requests may wait: what the slots hash within the allowed wait, by the measured hash time. */
  private limit(overloaded = this.overloaded): number {
    const waitMs = overloaded ? this.options.overloadWaitMs : this.options.queueTimeoutMs;
    const fits = Math.floor((waitMs * this.options.concurrency) / this.hashMs);
    return Math.min(MAX_WAITING, Math.max(this.options.concurrency, fits));
  }

  private admit(source: HashSource): Promise<void> {
    this.observe(); // first: it sees how long the gate has been idle
    this.forgetLoadWhenIdle();
    if (this.running < this.options.concurrency && this.queue.size === 0) {
      this.take(source);
      return Promise.resolve();
    }
    const limit = this.limit();
    const size = this.queue.size;
    if (size >= limit - Math.floor(limit * RESERVED_SHARE)) {
      const heaviest = this.queue.heaviest();
      const waiting = this.queue.waitingOf(source.client, source.account);
      const mine = Math.max(waiting.client, waiting.account);
      if (!heaviest || mine + 1 >= heaviest.count) {
        // The heaviest source (or one of equals) is held to the limit, and to its last tenth once it
        // already waits: those places are kept for others.
        if (mine > 0 || size >= limit) {
          // Under sustained overload the short line may hold only equals (one request of a flood that
          // is being turned away, one each of two students): a source with nothing waiting then takes
          // the place of the newest request of the source turned away most in this interval.
          const flooder = mine === 0 && this.overloaded ? this.mostShedWaiting() : undefined;
          if (!flooder) return Promise.reject(this.shed(source.client));
          this.queue.delete(flooder);
          flooder.reject(this.busy("fair_share"));
        }
      } else if (size >= this.limit(false)) {
        // A lighter source is served round-robin, so it waits little however long the queue: only
        // a queue at its full length (memory) makes the heaviest give up its newest place.
        if (this.standing) this.standing.overflowed = true;
        this.queue.delete(heaviest.newest);
        heaviest.newest.reject(this.busy("fair_share"));
      }
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { client: source.client, account: source.account, start: resolve, reject };
      this.queue.push(waiter);
      this.observe();
    });
  }

  /**
   * The decision admit() makes for a request of `client`, made before anything else is known of it
   * (its body not read yet), when it does not depend on the account: the client already waits in a
   * nearly full queue and is (one of) its heaviest sources, so admit() would turn it away whatever its
   * account. Then it is turned away now and the error returned; otherwise null, and admit() decides.
   * A flood's 503s then cost no body parsing and no validation.
   */
  refuseEarly(client: string): HashGateBusyError | null {
    this.observe();
    if (this.running < this.options.concurrency && this.queue.size === 0) return null;
    const limit = this.limit();
    if (this.queue.size < limit - Math.floor(limit * RESERVED_SHARE)) return null;
    const mine = this.queue.waitingOf(client, undefined).client;
    const heaviest = this.queue.heaviest();
    if (mine === 0 || (heaviest && mine + 1 < heaviest.count)) return null;
    return this.shed(client);
  }

  /** Turns an arrival of `client` away: the queue overflowed. */
  private shed(client: string): HashGateBusyError {
    if (this.standing) this.standing.overflowed = true;
    this.noteShed(client);
    return this.busy(this.overloaded ? "overload" : "queue_full");
  }

  /** Frees the slot and gives it to the next in line; true when a waiter was started. */
  private finish(source: HashSource, job: HashTiming): boolean {
    this.recordHashTime({ ...job, alone: job.alone && this.running === 1 && this.queue.size === 0 });
    this.running--;
    this.count(source, -1);
    let started = false;
    while (this.running < this.options.concurrency && this.queue.size > 0) {
      const next = this.queue.shift((waiter) => this.holdsItsShare(waiter)) as Waiter;
      this.take(next);
      next.start();
      started = true;
    }
    if (this.running === 0) this.idleSince = this.now();
    this.observe();
    return started;
  }

  /**
   * Hold times measured under load (other traffic on the same cores) say little about the next
   * burst once the load has gone: after a second with nothing to do, the idle hash time counts again.
   */
  private forgetLoadWhenIdle(): void {
    if (this.running > 0 || this.queue.size > 0 || this.idleSince === null) return;
    if (this.now() - this.idleSince >= IDLE_RESET_MS) this.hashMs = this.idleHashMs;
    this.idleSince = null;
  }

  /**
   * CoDel's question, asked at every arrival and completion: has the queue been standing for a whole
   * interval (the queue timeout) — its backlog above a third of the timeout all along — while
   * arrivals kept exceeding the hash rate: it overflowed, or it has not drained (it is still within
   * one round of the slots of its longest)? A burst that fits drains within the interval; a long
   * queue that is draining (arrivals below the hash rate) starts a new interval instead. Overload
   * ends once a whole interval has passed in which the short queue turned nobody away, or a second
   * in which nothing waited or ran.
   */
  private observe(): void {
    const now = this.now();
    // Overload ends after a whole interval without turning anyone away, or once nothing has waited or
    // run for a second: then the next burst (a lecture hall right after a flood) gets the whole queue,
    // and a flood that resumes has to stand again.
    const idle = this.idleSince !== null && now - this.idleSince >= IDLE_RESET_MS;
    if (this.overloaded && (idle || now - this.lastShedAt >= this.options.queueTimeoutMs)) this.overloaded = false;
    const size = this.queue.size;
    const backlogMs = (size * this.hashMs) / this.options.concurrency;
    if (backlogMs <= this.options.queueTimeoutMs * STANDING_FRACTION) {
      this.standing = null;
      return;
    }
    if (!this.standing) {
      this.standing = { since: now, peak: size, overflowed: false };
      return;
    }
    this.standing.peak = Math.max(this.standing.peak, size);
    if (now - this.standing.since < this.options.queueTimeoutMs) return;
    if (this.standing.overflowed || size + this.options.concurrency >= this.standing.peak) this.overloaded = true;
    else this.standing = { since: now, peak: size, overflowed: false };
  }

  private busy(reason: BusyReason): HashGateBusyError {
    this.lastShedAt = this.now();
    this.options.onRejected?.(reason);
    const drainMs = ((this.queue.size + this.running) * this.hashMs) / this.options.concurrency;
    return new HashGateBusyError(Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(drainMs / 1000))), reason);
  }

  /** Counts a request turned away against its client address, for this interval (see mostShedWaiting). */
  private noteShed(client: string): void {
    const now = this.now();
    if (now - this.shedSince >= this.options.queueTimeoutMs || this.shedBy.size >= MAX_WAITING) {
      this.shedBy.clear();
      this.shedSince = now;
    }
    this.shedBy.set(client, (this.shedBy.get(client) ?? 0) + 1);
  }

  /** The newest waiter of the waiting client address turned away most often in this interval, if any was. */
  private mostShedWaiting(): Waiter | undefined {
    let most: { count: number; waiter: Waiter } | undefined;
    for (const waiter of this.queue.newestPerClient()) {
      const count = this.shedBy.get(waiter.client) ?? 0;
      if (count > 0 && (!most || count > most.count)) most = { count, waiter };
    }
    return most?.waiter;
  }

  private holdsItsShare(waiter: Waiter): boolean {
    const runs = (key: string) => this.runningBy.get(key) ?? 0;
    return (
      runs(`client:${waiter.client}`) >= this.slotShare ||
      (waiter.account !== undefined && runs(`account:${waiter.account}`) >= this.slotShare)
    );
  }

  private take(source: HashSource): void {
    this.idleSince = null;
    this.running++;
    this.count(source, 1);
  }

  private count(source: HashSource, delta: number): void {
    for (const key of [`client:${source.client}`, source.account === undefined ? undefined : `account:${source.account}`]) {
      if (key === undefined) continue;
      const value = (this.runningBy.get(key) ?? 0) + delta;
      if (value > 0) this.runningBy.set(key, value);
      else this.runningBy.delete(key);
    }
  }

  /**
   * The slot's hold time feeds the drain rate under the current load (every job: they all held it). The
   * idle estimate follows hashes that ran alone, and drops to any hash quicker than it: a hash under
   * load is never quicker than one alone, so a slow first sample (a cold start) is corrected at once.
   */
  private recordHashTime({ ms, alone, hashed }: HashTiming): void {
    const sample = Math.max(1, ms);
    if (!this.measured) {
      if (!hashed) return;
      this.measured = true;
      this.hashMs = sample;
      this.idleHashMs = sample;
      return;
    }
    this.hashMs += HASH_TIME_WEIGHT * (sample - this.hashMs);
    if (!hashed) return;
    if (sample < this.idleHashMs) this.idleHashMs = sample;
    else if (alone) this.idleHashMs += HASH_TIME_WEIGHT * (sample - this.idleHashMs);
  }
}
