import { LeaseLostError, StorageError } from '../../errors.ts';
import type { Logger } from '../../model/logger.ts';

/** A storage write to try again later (a save or remove of one job). */
export type StorageWrite = () => Promise<void>;

/**
 * The node's storage trouble: reports failed storage operations (logged, and handed to
 * `onError` as a StorageError) and keeps the job writes that failed while the storage was
 * down, to replay them when it returns, so a finished job is not re-run later.
 */
export class StorageSync {
  /** Writes that failed, by job id: a later write of the same job replaces an earlier one. */
  readonly #unsynced = new Map<string, StorageWrite>();
  readonly #log: Logger;
  readonly #onError: (error: StorageError) => void;

  constructor(log: Logger, onError: (error: StorageError) => void) {
    this.#log = log;
    this.#onError = onError;
  }

  /** Writes waiting for the storage to return. */
  get size(): number {
    return this.#unsynced.size;
  }

  /** Keeps a write that failed, to replay it later. */
  remember(id: string, write: StorageWrite): void {
    this.#unsynced.set(id, write);
  }

  /** The storage is back: runs every kept write once; one that fails again is kept again. */
  replay(): void {
    const writes = [...this.#unsynced.entries()];
    this.#unsynced.clear();
    for (const [id, write] of writes) {
      write().catch((err: unknown) => {
        this.#unsynced.set(id, write);
        this.failed(err, id);
      });
    }
  }

  /** A storage operation about job (or feedback key) `id` failed: log and report it. */
  failed(err: unknown, id: string): void {
    // Refused by the fence: the job is another node's now, replaying would fail forever.
    if (err instanceof LeaseLostError) this.#unsynced.delete(id);
    const error = asStorageError(err, 'storage operation failed');
    this.#log.error({ err, jobId: id }, error.message);
    this.#onError(error);
  }
}

/** `err` if it is a StorageError already, else a StorageError with `message` caused by it. */
export function asStorageError(err: unknown, message: string): StorageError {
  return err instanceof StorageError ? err : new StorageError(message, { cause: err });
}
