import { Command } from 'commander';
import { registerDemoCommand } from './demo-command.ts';
import { registerJobsCommand } from './jobs-command.ts';
import { registerNodeCommand } from './node-command.ts';

const program = new Command();
program
  .name('jobreactor')
  .description('Distributed background jobs for Node.js: run worker nodes, try the demo.')
  .version('0.1.0')
  .showHelpAfterError();
registerNodeCommand(program);
registerDemoCommand(program);
registerJobsCommand(program);
await program.parseAsync(process.argv);
