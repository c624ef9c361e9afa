import { Socket } from "node:net";
import { DatabaseUnavailableError } from "./errors";

const SYNC = 0x53; // 'S': ends an extended-protocol batch
const QUERY = 0x51; // 'Q': a simple query
const READY_FOR_QUERY = 0x5a; // 'Z': the server's answer to each of them, and to the start-up message
const STARTUP_PROTOCOL = 196608; // 3.0

/**
 * Counts PostgreSQL protocol messages in a byte stream that arrives in arbitrary chunks: every message
 * is a type byte and a 4-byte length, except the first one a client sends (length and protocol code).
 */
export class MessageCounter {
  private readonly header = new Uint8Array(8);
  private have = 0;
  private skip = 0;

  constructor(
    private startup: boolean,
    private readonly counts: (type: number) => boolean,
  ) {}

  /** The big-endian 32-bit integer at `offset` of the header (a DataView per message was a measurable cost per query). */
  private uint32At(offset: number): number {
    const h = this.header;
    return (
      (((h[offset] as number) << 24) | ((h[offset + 1] as number) << 16) | ((h[offset + 2] as number) << 8) | (h[offset + 3] as number)) >>>
      0
    );
  }

  /** How many counted messages start in `chunk`. */
  feed(chunk: Uint8Array): number {
    let found = 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const size = this.startup ? 8 : 5;
      while (this.have < size && i < chunk.length) this.header[this.have++] = chunk[i++] as number;
      if (this.have < size) break;
      if (this.startup) {
        if (this.uint32At(4) === STARTUP_PROTOCOL) found++;
        this.skip = this.uint32At(0) - 8;
        this.startup = false;
      } else {
        if (this.counts(this.header[0] as number)) found++;
        this.skip = this.uint32At(1) - 4;
      }
      this.have = 0;
    }
    return found;
  }
}

interface Watched {
  socket: Socket;
  /** Answers (ReadyForQuery) still due for what was sent. */
  awaiting: number;
  /** Something was sent (a Describe with Flush, say, which has no ReadyForQuery) and nothing came back since. */
  unanswered: boolean;
  lastProgress: number;
}

/**
 * A statement timeout that also holds behind PgBouncer and across a network that stops answering: a
 * connection that waits for an answer and receives nothing for `timeoutMs` is destroyed, so the query
 * on it fails (503) and the pool opens a fresh connection instead of keeping a dead one forever.
 * PostgreSQL's own `statement_timeout` cannot do this (a silent network never delivers it), and
 * PgBouncer refuses it as a start-up parameter.
 */
export class SocketWatchdog {
  private readonly watched = new Set<Watched>();
  private readonly timer: ReturnType<typeof setInterval>;
  /** Where the last connection actually went (for telling PostgreSQL itself from a pooler in front). */
  lastRemote: { address: string; port: number } | null = null;

  constructor(private readonly timeoutMs: number) {
    this.timer = setInterval(() => this.check(), Math.max(50, Math.min(1000, timeoutMs / 4)));
    this.timer.unref();
  }

  /** postgres.js's `socket` option: opens the TCP (or Unix) connection and watches it. */
  open(target: { host: string; port: number } | { path: string }): Socket {
    const socket = new Socket();
    // postgres.js names the server in its errors from these ("CONNECT_TIMEOUT 127.0.0.1:5432").
    Object.assign(socket, "path" in target ? { host: target.path } : { host: target.host, port: target.port });
    const entry: Watched = { socket, awaiting: 0, unanswered: false, lastProgress: performance.now() };
    const sent = new MessageCounter(true, (type) => type === SYNC || type === QUERY);
    const received = new MessageCounter(false, (type) => type === READY_FOR_QUERY);
    // Connected a turn later: postgres.js attaches its 'error' and 'close' listeners a microtask after
    // this returns, and a connection that fails at once (EMFILE when out of file descriptors, which Bun
    // reports as ECONNREFUSED) emitted its error before them, unhandled: the process ended with exit 1.
    // postgres.js's first write (the start-up message) is deferred to a later turn still.
    setImmediate(() => {
      socket.connect(target as { host: string; port: number });
      // After connect(): Bun's connect() puts its own `write` on the socket.
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (chunk instanceof Uint8Array) {
          if (entry.awaiting === 0 && !entry.unanswered) entry.lastProgress = performance.now();
          entry.awaiting += sent.feed(chunk);
          entry.unanswered = true;
        }
        return write(chunk, ...rest);
      }) as Socket["write"];
    });
    // The server never speaks first, so this listener cannot take data from under postgres.js's own.
    socket.on("data", (chunk: Uint8Array) => {
      entry.lastProgress = performance.now();
      entry.unanswered = false;
      entry.awaiting = Math.max(0, entry.awaiting - received.feed(chunk));
    });
    socket.once("connect", () => {
      if (socket.remoteAddress && socket.remotePort) this.lastRemote = { address: socket.remoteAddress, port: socket.remotePort };
    });
    socket.once("close", () => this.watched.delete(entry));
    this.watched.add(entry);
    return socket;
  }

  private check(): void {
    const now = performance.now();
    for (const entry of this.watched) {
      if ((entry.awaiting > 0 || entry.unanswered) && now - entry.lastProgress > this.timeoutMs) {
        this.watched.delete(entry);
        entry.socket.destroy(
          new DatabaseUnavailableError(`the database did not answer within ${this.timeoutMs} ms (DATABASE_STATEMENT_TIMEOUT)`),
        );
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
