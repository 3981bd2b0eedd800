import type { Command } from 'commander';
import { runDemo } from './demo.ts';

/** `jobreactor demo`: a distributor here, two worker nodes as child processes, a tour of the features. */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'run a distributor and two worker nodes (child processes) through a tour of the features',
    )
    .option('--quiet', 'no live progress line')
    .option(
      '--storage <kind>',
      "the nodes' storage: memory, lmdb:<dir> or a redis:// URL (durable: the killed node is restarted and resumes its jobs)",
      'memory',
    )
    .option(
      '--dashboard',
      'serve the live dashboard on a free loopback port, print its address, and stay up after the tour until Ctrl-C',
    )
    .action(async (flags: { quiet?: boolean; storage: string; dashboard?: boolean }) => {
      process.exitCode = await runDemo({
        quiet: flags.quiet === true,
        storage: flags.storage,
        dashboard: flags.dashboard === true,
      });
    });
}
