import type { Logger } from '../index.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 } as const;
export type LogLevel = keyof typeof LEVELS;
export type LogFormat = 'pretty' | 'json';

/** pino's level numbers, so a JSON line reads as pino's does (log shippers know them). */
const PINO_LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/**
 * A small pino-shaped logger for the CLI: one line per entry on stderr, `pretty` (time,
 * level, name, message, key=value fields) or `json` (pino's line format: level, time, name,
 * msg and the fields, with the node's name as `logger`; errors as { type, message, code }).
 * Repeats are folded by the node it is given to (see foldRepeats), not here.
 */
export function consoleLogger(
  level: LogLevel,
  prefix: string,
  format: LogFormat = 'pretty',
): Logger {
  const min = LEVELS[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>) => (obj: unknown, msg?: string) => {
    if (LEVELS[lvl] < min) return;
    const text = typeof obj === 'string' ? obj : (msg ?? '');
    const fields = typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>) : {};
    process.stderr.write(
      format === 'json'
        ? jsonLine(lvl, prefix, text, fields)
        : prettyLine(lvl, prefix, text, fields),
    );
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function prettyLine(
  lvl: string,
  prefix: string,
  text: string,
  fields: Record<string, unknown>,
): string {
  const tail = Object.entries(fields)
    .map(
      ([k, v]) =>
        ` ${k}=${v instanceof Error ? v.message : typeof v === 'object' ? JSON.stringify(v) : String(v as string)}`,
    )
    .join('');
  return `${new Date().toISOString()} ${lvl.toUpperCase()} [${prefix}] ${text}${tail}\n`;
}

function jsonLine(
  lvl: keyof typeof PINO_LEVELS,
  prefix: string,
  text: string,
  fields: Record<string, unknown>,
): string {
  // `logger`, not pino's `name`: the library's fields use `name` for the job's name.
  const entry: Record<string, unknown> = {
    level: PINO_LEVELS[lvl],
    time: Date.now(),
    logger: prefix,
  };
  for (const [k, v] of Object.entries(fields)) {
    entry[k] =
      v instanceof Error
        ? { type: v.name, message: v.message, ...('code' in v ? { code: v.code } : {}) }
        : v;
  }
  entry.msg = text;
  try {
    return `${JSON.stringify(entry)}\n`;
  } catch {
    // A field that does not serialise (a cycle) must not lose the line.
    return `${JSON.stringify({ level: entry.level, time: entry.time, logger: prefix, msg: text })}\n`;
  }
}

export function isLogLevel(value: string): value is LogLevel {
  return value in LEVELS;
}

export function isLogFormat(value: string): value is LogFormat {
  return value === 'pretty' || value === 'json';
}
