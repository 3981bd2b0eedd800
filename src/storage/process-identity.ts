import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Who a process is, precisely enough to tell later whether it still runs: a pid alone is
 * not (pids are reused), so on Linux the process's start time (clock ticks since boot, field
 * 22 of `/proc/<pid>/stat`) goes with it, and the boot id and pid namespace say whether a
 * pid recorded by another process means the same thing here.
 */
export interface ProcessIdentity {
  pid: number;
  /** Start time of the process (Linux); '' where it cannot be read. */
  start: string;
  /** `/proc/sys/kernel/random/boot_id`; '' where there is none. */
  boot: string;
  /** The pid namespace (`/proc/self/ns/pid`); '' where there is none. */
  ns: string;
  host: string;
}

/** This process. */
export function currentProcess(): ProcessIdentity {
  return {
    pid: process.pid,
    start: startTimeOf(process.pid),
    boot: readOr('/proc/sys/kernel/random/boot_id').trim(),
    ns: linkOr('/proc/self/ns/pid'),
    host: hostname(),
  };
}

/**
 * Whether `other` still runs, seen from `self`: `true` or `false` when this can be proven
 * (same machine, same boot, same pid namespace), `undefined` when it cannot (another host
 * or container sharing the directory, or a system without `/proc`): the caller then relies
 * on the lease's heartbeat instead.
 */
export function isRunning(other: ProcessIdentity, self: ProcessIdentity): boolean | undefined {
  if (other.host !== self.host || other.ns !== self.ns) return undefined;
  if (other.boot !== self.boot) return self.boot === '' ? undefined : false; // rebooted since
  if (self.start === '' || other.start === '') {
    // No start times here: a live pid may be a reused one, so only "gone" is a proof.
    return pidExists(other.pid) ? undefined : false;
  }
  return startTimeOf(other.pid) === other.start;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM'; // exists, owned by someone else
  }
}

/** Field 22 of `/proc/<pid>/stat` ('' when the process or the file is gone). */
function startTimeOf(pid: number): string {
  const stat = readOr(`/proc/${pid}/stat`);
  // The command name (field 2) is in parentheses and may hold spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? '';
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function linkOr(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}
