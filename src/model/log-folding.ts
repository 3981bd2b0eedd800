import { silentLogger, type Logger } from './logger.ts';

/** An identical line (level and message) within this long of the last one written is counted, not written. */
export const REPEAT_WINDOW_MS = 10_000;
/** Distinct lines remembered for folding; past it the memory starts over. */
const MAX_REMEMBERED = 1000;
/** Fields that differ between repeats of one event (a reconnect's jittered delay). */
const VOLATILE_FIELDS: ReadonlySet<string> = new Set(['delayMs']);

type Level = 'info' | 'warn' | 'error';

/**
 * The application's logger, with the library's repeated lines folded: a line at info or
 * above identical in level, message and fields (but a reconnect's delay) to one written
 * less than REPEAT_WINDOW_MS ago is
 * counted instead, and the next one written after the window carries `repeated: n`. So a
 * long outage (a distributor down, a storage away) logs once per window, not once per
 * retry, whatever logger the application brings. Debug lines pass through: they are for
 * someone looking. Lines that name a job differ in their message, so they never fold.
 */
export function foldRepeats(logger: Logger, now: () => number): Logger {
  if (logger === silentLogger) return logger;
  const seen = new Map<string, { at: number; folded: number }>();
  const fold =
    (level: Level) =>
    (obj: unknown, msg?: string): void => {
      const text = typeof obj === 'string' ? obj : (msg ?? '');
      const key = `${level} ${text} ${fieldsKey(obj)}`;
      const t = now();
      const last = seen.get(key);
      if (last !== undefined && t - last.at < REPEAT_WINDOW_MS) {
        last.folded++;
        return;
      }
      if (seen.size >= MAX_REMEMBERED) seen.clear();
      seen.set(key, { at: t, folded: 0 });
      if (last === undefined || last.folded === 0) return logger[level](obj, msg);
      const fields =
        typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>) : {};
      logger[level]({ ...fields, repeated: last.folded }, text);
    };
  return {
    debug: (obj, msg) => logger.debug(obj, msg),
    info: fold('info'),
    warn: fold('warn'),
    error: fold('error'),
  };
}

function fieldsKey(obj: unknown): string {
  if (typeof obj !== 'object' || obj === null) return '';
  let key = '';
  for (const [k, v] of Object.entries(obj)) {
    if (VOLATILE_FIELDS.has(k)) continue;
    key += `${k}=${v instanceof Error ? v.message : typeof v === 'object' ? safeJson(v) : String(v)};`;
  }
  return key;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '?';
  }
}
