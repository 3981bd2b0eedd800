import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A request to a bench child process, and its answer. */
interface Request {
  id: number;
  op: string;
  arg: unknown;
}
interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

const TSX = ['--import', 'tsx', '--expose-gc', '--max-old-space-size=8192'];
/** `BENCH_PROF=<dir>`: every bench process writes a CPU profile there (`--cpu-prof`). */
const PROF = process.env.BENCH_PROF
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`, '--cpu-prof-interval=200']
  : [];
/** `BENCH_NODE_FLAGS="--trace-gc …"`: extra Node flags for every bench process (diagnosis). */
const EXTRA = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/**
 * A bench process (producer or worker) driven over IPC: `call(op, arg)` runs the child's
 * handler for `op` and resolves with what it returned. A child that dies fails every
 * pending call with the tail of its stderr.
 */
export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  #seq = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #stderr = '';
  /** Resolves with what the child reported once it is set up. */
  readonly ready: Promise<unknown>;

  constructor(script: string, name: string, config: unknown) {
    this.name = name;
    this.proc = fork(script, [JSON.stringify(config)], {
      execArgv: [...TSX, ...PROF, ...EXTRA],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, JR_FROM_SOURCE: '1' },
    });
    this.ready = new Promise((resolve, reject) => this.#pending.set(0, { resolve, reject }));
    this.proc.stdout?.on('data', (d: Buffer) => process.stdout.write(`[${name}] ${d.toString()}`));
    this.proc.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    this.proc.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`${name}: ${m.error ?? 'failed'}`));
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        const err = new Error(
          `${name} exited (${signal ?? code}) during a call; stderr:\n${this.#stderr.trim()}`,
        );
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
        resolve(code);
      });
    });
  }

  /** Runs `op` in the child; rejects after `timeoutMs`. */
  call<T>(op: string, arg: unknown = {}, timeoutMs = 120_000): Promise<T> {
    const id = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: '${op}' took over ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (!this.proc.connected) {
        this.#pending.delete(id);
        clearTimeout(timer);
        reject(new Error(`${this.name} is gone; stderr:\n${this.#stderr.trim()}`));
        return;
      }
      this.proc.send({ id, op, arg } satisfies Request);
    });
  }

  get stderr(): string {
    return this.#stderr;
  }

  /**
   * Ends the process. `graceful`: its `stop` handler runs first (needed for CPU profiles);
   * otherwise it is killed at once (every run starts from a flushed Redis anyway).
   */
  async stop(graceful = PROF.length > 0 || process.env.BENCH_GRACEFUL === '1'): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    if (graceful) {
      try {
        await this.call('stop', {}, 3000);
      } catch {
        // killed below
      }
    }
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceful ? 2000 : 0);
    if (this.proc.connected) this.proc.disconnect();
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * The child side: answers the parent's calls with `handlers`, exits when the parent goes
 * away. Returns the config the parent passed.
 */
export function serve(
  handlers: Record<string, (arg: never) => unknown>,
  onStop: () => Promise<void>,
  readyInfo: unknown = {},
): void {
  process.on('message', (m: Request) => {
    void (async () => {
      let reply: Reply;
      try {
        if (m.op === 'stop') {
          await onStop();
          reply = { id: m.id, ok: true };
        } else {
          const h = handlers[m.op];
          if (!h) throw new Error(`unknown op ${m.op}`);
          reply = { id: m.id, ok: true, value: await h(m.arg as never) };
        }
      } catch (err) {
        reply = {
          id: m.id,
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        };
      }
      if (process.connected) process.send?.(reply);
      if (m.op === 'stop') setTimeout(() => process.exit(0), 50);
    })();
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ id: 0, ok: true, value: readyInfo } satisfies Reply);
}

export function childConfig<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

/** RSS and heap of this process after two full GCs (the child runs with --expose-gc). */
export function memoryNow(): {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Pages freed with MADV_FREE: counted in RSS until the kernel needs them. */
  lazyFree: number;
} {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    lazyFree: smapsField('LazyFree'),
  };
}

/** A field of /proc/self/smaps_rollup in bytes (Linux), 0 elsewhere. */
function smapsField(name: string): number {
  try {
    const text = readFileSync('/proc/self/smaps_rollup', 'utf8');
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
