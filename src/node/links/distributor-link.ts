import { ClosedError, JobReactorError, type ErrorInfo } from '../../errors.ts';
import type { Logger } from '../../model/logger.ts';
import type { HelloMessage, Message } from '../../protocol/messages.ts';
import { reconnectDelay } from '../../transport/backoff.ts';
import type { Connection } from '../../transport/connection.ts';
import { initiateHandshake } from '../../transport/handshake.ts';
import { connectTcp } from '../../transport/tcp-endpoints.ts';

export interface LinkHandlers {
  onReady(link: DistributorLink): void;
  onMessage(link: DistributorLink, message: Message): void;
  onDown(link: DistributorLink, reason: Error | undefined): void;
  /** Fatal for this link (wrong secret, version): it keeps retrying, slower, and reports it. */
  onRejected(link: DistributorLink, error: ErrorInfo): void;
}

export interface LinkOptions {
  host: string;
  port: number;
  secret: string | undefined;
  hello: () => Omit<HelloMessage, 't' | 'v' | 'nonce'>;
  connection: { maxFrameSize: number; heartbeatMs: number };
  handshakeTimeoutMs: number;
  log: Logger;
}

/**
 * The node's side of one distributor: dials, handshakes, and redials with backoff
 * whenever the link drops, until stopped.
 * States: idle → connecting → ready → (backoff → connecting)… ; any → stopped.
 */
export class DistributorLink {
  #state: 'idle' | 'connecting' | 'ready' | 'backoff' | 'stopped' = 'idle';
  #conn: Connection | undefined;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #connections = 0;
  /** The distributor's id, learned in the handshake. */
  distributorId: string | undefined;

  constructor(
    readonly options: LinkOptions,
    readonly handlers: LinkHandlers,
  ) {}

  get address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** Connections that reached `ready` so far: more than 1 means this is a reconnect. */
  get connections(): number {
    return this.#connections;
  }

  /** How long nothing was heard from the distributor, ms (Infinity while not connected). */
  silentFor(): number {
    return this.#state === 'ready' && this.#conn
      ? this.#conn.silentFor()
      : Number.POSITIVE_INFINITY;
  }

  start(): void {
    if (this.#state !== 'idle') return;
    void this.#dial();
  }

  send(message: Message): boolean {
    if (this.#state !== 'ready' || !this.#conn || this.#conn.closed) return false;
    this.#conn.send(message);
    return true;
  }

  /** Sends `message` and hands it to the socket at once (see Connection.flush). */
  sendNow(message: Message): boolean {
    if (!this.send(message)) return false;
    this.#conn!.flush();
    return true;
  }

  /** Closes the link for good (a clean close: the distributor sees the node leave). */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    if (this.#timer) clearTimeout(this.#timer);
    this.#conn?.close();
  }

  async #dial(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'connecting';
    const { host, port } = this.options;
    let conn: Connection;
    try {
      conn = await connectTcp(host, port, this.options.connection);
    } catch (err) {
      this.#retry(err instanceof Error ? err : undefined);
      return;
    }
    if (this.#isStopped()) return conn.close();
    this.#conn = conn;
    try {
      const challenge = await initiateHandshake(conn, {
        ...(this.options.secret !== undefined ? { secret: this.options.secret } : {}),
        hello: this.options.hello(),
        timeoutMs: this.options.handshakeTimeoutMs,
      });
      this.distributorId = challenge.distributor;
    } catch (err) {
      if (err instanceof JobReactorError && err.code !== 'JR_ERR_CONNECTION') {
        this.handlers.onRejected(this, err.toInfo());
        // Refused (wrong secret, other version): retrying fast would only flood its log.
        this.#attempt = Math.max(this.#attempt, 6);
      }
      this.#retry(err instanceof Error ? err : undefined);
      return;
    }
    if (this.#isStopped() || conn.closed) {
      if (!this.#isStopped()) this.#retry(new ClosedError('closed during handshake'));
      return;
    }
    this.#state = 'ready';
    this.#attempt = 0;
    this.#connections++;
    conn.onMessage((m) => this.handlers.onMessage(this, m));
    conn.onClose((reason) => {
      if (this.#conn !== conn) return;
      this.#conn = undefined;
      const wasReady = this.#state === 'ready';
      if (this.#state !== 'stopped') this.#state = 'backoff';
      if (wasReady) this.handlers.onDown(this, reason);
      this.#retry(reason);
    });
    this.options.log.info(
      { distributor: this.distributorId, address: this.address },
      'connected to distributor',
    );
    this.handlers.onReady(this);
  }

  // A method, not an inline comparison: the state changes across awaits.
  #isStopped(): boolean {
    return this.#state === 'stopped';
  }

  #retry(reason: Error | undefined): void {
    if (this.#state === 'stopped') return;
    this.#state = 'backoff';
    const delay = reconnectDelay(this.#attempt++);
    this.options.log.debug(
      { address: this.address, delay, reason: reason?.message },
      'redialing distributor',
    );
    this.#timer = setTimeout(() => void this.#dial(), delay);
  }
}
