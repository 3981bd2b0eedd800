import net from 'node:net';

/**
 * A TCP relay between a node and a distributor, so a test can break the link under both
 * sides without their cooperation: `cut()` resets every relayed connection (the node
 * redials), `freeze()` stops forwarding in both directions while the sockets stay open (a
 * frozen peer or a half-open link: only heartbeats can tell), `thaw()` forwards again.
 */
export class Relay {
  readonly #server: net.Server;
  readonly #pairs = new Set<{ inbound: net.Socket; outbound: net.Socket }>();
  #frozen = false;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  /** A relay to `target` (`host:port`) on a free loopback port. */
  static async to(target: string): Promise<Relay> {
    const [host, port] = splitAddress(target);
    const server = net.createServer();
    const relay = new Relay(server);
    server.on('connection', (inbound) => relay.#accept(inbound, host, port));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  /** The address a node dials. */
  get address(): string {
    return `127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /** Relayed connections open now. */
  get connections(): number {
    return this.#pairs.size;
  }

  cut(): void {
    for (const { inbound, outbound } of this.#pairs) {
      inbound.resetAndDestroy();
      outbound.resetAndDestroy();
    }
    this.#pairs.clear();
  }

  freeze(): void {
    this.#frozen = true;
    for (const { inbound, outbound } of this.#pairs) {
      inbound.pause();
      outbound.pause();
    }
  }

  thaw(): void {
    this.#frozen = false;
    for (const { inbound, outbound } of this.#pairs) {
      inbound.resume();
      outbound.resume();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(inbound: net.Socket, host: string, port: number): void {
    const outbound = net.connect(port, host);
    const pair = { inbound, outbound };
    this.#pairs.add(pair);
    const drop = () => {
      this.#pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    for (const s of [inbound, outbound]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    // Data goes through `write`, not `pipe`: a frozen relay pauses the readers, and pipe
    // would resume them on its own at the next drain.
    inbound.on('data', (chunk: Buffer) => outbound.write(chunk));
    outbound.on('data', (chunk: Buffer) => inbound.write(chunk));
    if (this.#frozen) {
      inbound.pause();
      outbound.pause();
    }
  }
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}
