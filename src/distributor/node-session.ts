import type { HelloMessage, Message } from '../protocol/messages.ts';
import type { Connection } from '../transport/connection.ts';
import { JobIndex } from './job-index.ts';

/** What `distributor.nodes()` reports about a connected node. */
export interface NodeInfo {
  name: string;
  instance: string;
  remote: string;
  capacity: number;
  /** Instant jobs it may still be sent. */
  credit: number;
  durable: boolean;
  draining: boolean;
  paused: boolean;
  /** Jobs it holds that this distributor would re-dispatch if it vanished. */
  held: number;
  jobs: readonly string[];
  connectedAt: Date;
}

/**
 * One authenticated node connection, as the distributor sees it.
 * States: ready → draining (the node said it is stopping) → closed.
 */
export class NodeSession {
  readonly name: string;
  readonly instance: string;
  readonly capacity: number;
  readonly durable: boolean;
  jobNames: ReadonlySet<string>;
  readonly connectedAt: number;
  credit: number;
  draining = false;
  /** The node said it cannot store jobs for now (its storage is down). */
  paused = false;
  closed = false;
  /** Jobs sent to this node and not yet final (for durable nodes: only until accepted). */
  readonly held = new JobIndex();
  /** Deferred (non-instant) jobs held: the spread metric for them. */
  deferredHeld = 0;

  constructor(
    readonly connection: Connection,
    hello: HelloMessage,
    now: number,
  ) {
    this.name = hello.node;
    this.instance = hello.instance;
    this.capacity = hello.capacity;
    this.credit = hello.capacity;
    this.durable = hello.durable;
    this.jobNames = new Set(hello.jobs);
    this.connectedAt = now;
  }

  get usable(): boolean {
    return !this.closed && !this.draining && !this.paused;
  }

  send(message: Message): void {
    this.connection.send(message);
  }

  sendFrame(frame: Buffer): void {
    this.connection.sendFrame(frame);
  }

  info(): NodeInfo {
    return {
      name: this.name,
      instance: this.instance,
      remote: this.connection.remote,
      capacity: this.capacity,
      credit: this.credit,
      durable: this.durable,
      draining: this.draining,
      paused: this.paused,
      held: this.held.size,
      jobs: [...this.jobNames],
      connectedAt: new Date(this.connectedAt),
    };
  }
}
