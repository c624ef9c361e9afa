/** One request waiting for a password-hashing slot. */
export interface Waiter {
  client: string;
  account: string | undefined;
  start: () => void;
  reject: (error: Error) => void;
}

/**
 * The requests waiting for a hashing slot, one line per client address, served round-robin: a client
 * address with many requests waiting delays the others by at most one request per turn, however long
 * its own line is. Waiters are also indexed by account, so that the heaviest source of either kind can
 * be found when the queue is full (longest-queue drop).
 */
export class FairQueue {
  /** Insertion order of this map is the round-robin order: a served client moves to the end. */
  private readonly byClient = new Map<string, Waiter[]>();
  private readonly byAccount = new Map<string, Waiter[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(waiter: Waiter): void {
    append(this.byClient, waiter.client, waiter);
    if (waiter.account !== undefined) append(this.byAccount, waiter.account, waiter);
    this.count++;
  }

  /** How many requests of this client address and of this account are waiting. */
  waitingOf(client: string, account: string | undefined): { client: number; account: number } {
    return {
      client: this.byClient.get(client)?.length ?? 0,
      account: account === undefined ? 0 : (this.byAccount.get(account)?.length ?? 0),
    };
  }

  /**
   * The next request to start: the head of the next client address in turn, skipping addresses whose
   * head `holdsItsShare` (its address or account already runs its share of the slots) as long as
   * another one does not. Work-conserving: when every head holds its share, the next in turn starts.
   */
  shift(holdsItsShare: (waiter: Waiter) => boolean): Waiter | undefined {
    let chosen: string | undefined;
    for (const [client, line] of this.byClient) {
      chosen ??= client;
      if (!holdsItsShare(line[0] as Waiter)) {
        chosen = client;
        break;
      }
    }
    if (chosen === undefined) return undefined;
    const line = this.byClient.get(chosen) as Waiter[];
    const waiter = line.shift() as Waiter;
    this.byClient.delete(chosen);
    if (line.length > 0) this.byClient.set(chosen, line); // to the end of the round
    if (waiter.account !== undefined) remove(this.byAccount, waiter.account, waiter);
    this.count--;
    return waiter;
  }

  /** The newest waiter of the client address or account that has the most requests waiting. */
  heaviest(): { count: number; newest: Waiter } | undefined {
    let best: Waiter[] | undefined;
    for (const lines of [this.byClient, this.byAccount]) {
      for (const line of lines.values()) if (!best || line.length > best.length) best = line;
    }
    return best && { count: best.length, newest: best[best.length - 1] as Waiter };
  }

  /** The newest waiter of each client address. */
  *newestPerClient(): IterableIterator<Waiter> {
    for (const line of this.byClient.values()) yield line[line.length - 1] as Waiter;
  }

  delete(waiter: Waiter): void {
    remove(this.byClient, waiter.client, waiter);
    if (waiter.account !== undefined) remove(this.byAccount, waiter.account, waiter);
    this.count--;
  }
}

function append(lines: Map<string, Waiter[]>, key: string, waiter: Waiter): void {
  const line = lines.get(key);
  if (line) line.push(waiter);
  else lines.set(key, [waiter]);
}

function remove(lines: Map<string, Waiter[]>, key: string, waiter: Waiter): void {
  const line = lines.get(key);
  if (!line) return;
  const index = line.lastIndexOf(waiter);
  if (index !== -1) line.splice(index, 1);
  if (line.length === 0) lines.delete(key);
}
