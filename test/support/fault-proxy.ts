import type { Socket, TCPSocketListener } from "bun";

export type FaultMode = "up" | "down" | "hang" | "slow";

/** Bytes for one direction of a connection, written in order even when the kernel takes them in parts. */
class Pipe {
  private queue: Uint8Array[] = [];
  constructor(private readonly target: () => Socket<unknown> | null) {}

  push(bytes: Uint8Array): void {
    this.queue.push(bytes);
    this.flush();
  }

  flush(): void {
    const socket = this.target();
    while (socket && this.queue.length > 0) {
      const head = this.queue[0] as Uint8Array;
      const written = socket.write(head);
      if (written < head.length) {
        this.queue[0] = head.subarray(Math.max(0, written));
        return; // the rest on drain
      }
      this.queue.shift();
    }
  }
}

interface Link {
  client: Socket<unknown>;
  server: Socket<unknown> | null;
  toServer: Pipe;
  toClient: Pipe;
  /** Chunks held back while the proxy hangs: [direction, bytes]. */
  held: Array<[Pipe, Uint8Array]>;
  closed: boolean;
}

/**
 * A TCP proxy between the service and PostgreSQL that can fail the way networks and databases do:
 * `down` (connections refused, open ones cut), `hang` (connections accepted, nothing forwarded either
 * way until `up` again, as in a network partition that heals), `slow` (each chunk delayed), and
 * `restart()` (every open connection cut, as a PostgreSQL restart does).
 */
export class FaultProxy {
  private listener: TCPSocketListener<unknown> | null = null;
  private readonly links = new Set<Link>();
  private mode: FaultMode = "up";
  port = 0;
  slowMs = 300;

  constructor(private readonly upstream: { hostname: string; port: number }) {}

  static async start(upstream: { hostname: string; port: number }, mode: FaultMode = "up"): Promise<FaultProxy> {
    const proxy = new FaultProxy(upstream);
    proxy.listen(0);
    await proxy.set(mode);
    return proxy;
  }

  private listen(port: number): void {
    const links = new WeakMap<Socket<unknown>, Link>();
    this.listener = Bun.listen<unknown>({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (client) => {
          const link: Link = { client, server: null, toServer: null as never, toClient: null as never, held: [], closed: false };
          link.toServer = new Pipe(() => link.server);
          link.toClient = new Pipe(() => (link.closed ? null : link.client));
          links.set(client, link);
          this.links.add(link);
          Bun.connect<unknown>({
            ...this.upstream,
            socket: {
              open: (server) => {
                if (link.closed) return void server.end();
                link.server = server;
                link.toServer.flush();
              },
              data: (_server, bytes) => this.forward(link, link.toClient, new Uint8Array(bytes)),
              drain: () => link.toServer.flush(),
              close: () => this.cut(link),
              error: () => this.cut(link),
            },
          }).catch(() => this.cut(link));
        },
        data: (client, bytes) => {
          const link = links.get(client);
          if (link) this.forward(link, link.toServer, new Uint8Array(bytes));
        },
        drain: (client) => links.get(client)?.toClient.flush(),
        close: (client) => {
          const link = links.get(client);
          if (link) this.cut(link);
        },
        error: (client) => {
          const link = links.get(client);
          if (link) this.cut(link);
        },
      },
    });
    this.port = this.listener.port;
  }

  private forward(link: Link, pipe: Pipe, bytes: Uint8Array): void {
    const copy = bytes.slice();
    if (this.mode === "hang") link.held.push([pipe, copy]);
    else if (this.mode === "slow") setTimeout(() => !link.closed && pipe.push(copy), this.slowMs);
    else pipe.push(copy);
  }

  private cut(link: Link): void {
    if (link.closed) return;
    link.closed = true;
    this.links.delete(link);
    link.client.end();
    link.server?.end();
  }

  /** Cuts every open connection; new ones are accepted as before. */
  restart(): void {
    for (const link of [...this.links]) this.cut(link);
  }

  async set(mode: FaultMode): Promise<void> {
    const previous = this.mode;
    this.mode = mode;
    if (mode === "down") {
      this.restart();
      this.listener?.stop(true);
      this.listener = null;
      return;
    }
    if (!this.listener) this.listen(this.port);
    if (previous === "hang" && mode !== "hang") {
      for (const link of this.links) for (const [pipe, bytes] of link.held.splice(0)) pipe.push(bytes);
    }
  }

  stop(): void {
    this.restart();
    this.listener?.stop(true);
    this.listener = null;
  }
}
