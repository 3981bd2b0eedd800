/** A promise with the functions that settle it (Node 20 has no `Promise.withResolvers`). */
export interface Deferred {
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A new Deferred. `unobserved`: nobody may wait on it, so its rejection must not be reported
 * as unhandled (a stage some callers skip).
 */
export function deferred(unobserved = false): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  if (unobserved) done.catch(() => undefined);
  return { done, resolve, reject };
}
