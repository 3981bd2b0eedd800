import type { Logger } from '../index.ts';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 } as const;
export type LogLevel = keyof typeof LEVELS;

/** A small pino-shaped logger for the CLI: one line per entry on stderr. */
export function consoleLogger(level: LogLevel, prefix: string): Logger {
  const min = LEVELS[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>) => (obj: unknown, msg?: string) => {
    if (LEVELS[lvl] < min) return;
    const text = typeof obj === 'string' ? obj : (msg ?? '');
    const fields =
      typeof obj === 'object' && obj !== null
        ? ' ' +
          Object.entries(obj)
            .map(
              ([k, v]) =>
                `${k}=${v instanceof Error ? v.message : typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
            )
            .join(' ')
        : '';
    process.stderr.write(
      `${new Date().toISOString()} ${lvl.toUpperCase()} [${prefix}] ${text}${fields}\n`,
    );
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

export function isLogLevel(value: string): value is LogLevel {
  return value in LEVELS;
}
