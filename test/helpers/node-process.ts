import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/jobreactor.js', import.meta.url));

export interface NodeProcess {
  child: ChildProcess;
  /** Everything the process wrote to stderr (its log). */
  stderr(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `jobreactor node …` as a real child process (from source, through the launcher). */
export function spawnNode(args: {
  name: string;
  distributors: string[];
  jobs: string;
  concurrency?: number;
  extra?: string[];
  env?: Record<string, string>;
}): NodeProcess {
  const argv = [
    BIN,
    'node',
    '--name',
    args.name,
    '--jobs',
    args.jobs,
    '--concurrency',
    String(args.concurrency ?? 8),
    '--log-level',
    'warn',
    ...args.distributors.flatMap((d) => ['--distributor', d]),
    ...(args.extra ?? []),
  ];
  const child = spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JR_FROM_SOURCE: '1', ...args.env },
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null) child.kill(signal);
    },
  };
}
