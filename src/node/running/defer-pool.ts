import type { Logger } from '../../model/logger.ts';
import { ThreadPool } from './thread-pool.ts';

/** What a DeferPool needs from the node's options. */
export interface DeferPoolOptions {
  /** The node's job directory; without one there is no pool. */
  jobDirectory: string | undefined;
  /** Threads in the pool. @default the ThreadPool's default */
  threads: number | undefined;
  log: Logger;
}

/**
 * The worker-thread pool for `defer: true` jobs, started on first use (most nodes never
 * defer a job, and threads are costly to start).
 */
export class DeferPool {
  readonly #opts: DeferPoolOptions;
  #pool: ThreadPool | undefined;
  #warnedNoDirectory = false;

  constructor(options: DeferPoolOptions) {
    this.#opts = options;
  }

  /**
   * The pool, started if need be; undefined when the node has no job directory (deferred
   * jobs then run on the event loop; this is logged once).
   */
  get(): ThreadPool | undefined {
    const dir = this.#opts.jobDirectory;
    if (dir === undefined) {
      // Threads load jobs from files; a registry built in code cannot cross into them.
      if (!this.#warnedNoDirectory) {
        this.#warnedNoDirectory = true;
        this.#opts.log.warn(
          'defer: true needs a jobDirectory; running deferred jobs on the event loop',
        );
      }
      return undefined;
    }
    this.#pool ??= new ThreadPool({
      jobDirectory: dir,
      ...(this.#opts.threads !== undefined ? { size: this.#opts.threads } : {}),
      log: this.#opts.log,
    });
    return this.#pool;
  }

  /** Closes the pool if it was ever started (see ThreadPool.close). */
  async close(): Promise<void> {
    await this.#pool?.close();
  }
}
