/**
 * Waits `ms`, or rejects with the signal's reason once it aborts (a job's `ctx.signal`): for
 * fixture jobs that must notice a cancel, a timeout or a shutdown the way real jobs do.
 */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}
