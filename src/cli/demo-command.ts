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
    .action(async (flags: { quiet?: boolean }) => {
      process.exitCode = await runDemo({ quiet: flags.quiet === true });
    });
}
