import { Command, Option } from 'commander';
import { loadConfig } from '../config/config.js';
import { DEFAULT_JOB_OPTIONS } from '../domain/model.js';
import { CLI_BATCH_SIZE } from './defaults.js';
// Commands load their modules when they run: `freight migrate` never loads the HTTP server.
const commands = {
  migrate: () => import('./commands/migrate.js'),
  demo: () => import('./commands/demo.js'),
  serve: () => import('./commands/serve.js'),
  admin: () => import('./commands/admin.js'),
  mcp: () => import('../mcp/stdio.js'),
  worker: () => import('./commands/worker.js'),
  watch: () => import('./commands/watch.js'),
  secrets: () => import('./commands/secrets.js'),
};
import { reportError } from './errors.js';

/** The `freight` command. */
export function buildProgram(): Command {
  const program = new Command('freight')
    .description('Freight: move data between databases in idempotent, resumable batches.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('migrate')
    .description(
      'copy tables from a source database into a target database, with a live progress bar and a summary',
    )
    .argument(
      '[source]',
      'mysql://user:pass@host:3306/db, mariadb://…, postgresql://…, sqlite:<path> or csv:<path>',
    )
    .argument('[target]', 'postgresql://user@host:5432/db[?schema=name] or sqlite:<path>')
    .option('--tables <names>', 'comma-separated source tables (default: every table)')
    .option('--batch-size <rows>', `rows per batch (default: ${CLI_BATCH_SIZE})`)
    .option('--concurrency <n>', 'batches copied at once (default: 2 × CPU cores, at most 8)')
    .option(
      '--max-retries <n>',
      `retries of a batch after a transient error (default: ${DEFAULT_JOB_OPTIONS.maxRetries})`,
    )
    .option('--no-create', 'load into existing target tables only')
    .addOption(
      new Option('--verify <mode>', 'after the load, compare row counts or checksums')
        .choices(['none', 'count', 'checksum'])
        .default(DEFAULT_JOB_OPTIONS.verify),
    )
    .addOption(
      new Option('--audit-level <level>', 'log successes per batch or per record')
        .choices(['batches', 'records'])
        .default(DEFAULT_JOB_OPTIONS.auditLevel),
    )
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress bar')
    .option('--resume <job-id>', 'run what an earlier, interrupted or failed run did not finish')
    .action(async (source: string | undefined, target: string | undefined, flags) => {
      process.exitCode = await (
        await commands.migrate()
      ).migrate(loadConfig(), source, target, flags);
    });

  program
    .command('demo')
    .description(
      'generate a sample shop database (SQLite) and migrate it into another database — by default a second SQLite file',
    )
    .option('--scale <n>', 'multiply the sample size (1 ≈ 250,000 rows)', '1')
    .option(
      '--target <url>',
      'where to migrate it (default: sqlite:$FREIGHT_HOME/demo/shop-copy.db)',
    )
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress bar')
    .action(async (flags) => {
      process.exitCode = await (await commands.demo()).demo(loadConfig(), flags);
    });

  program
    .command('serve')
    .description(
      'start the API (port 8000) with a worker in the same process — the embedded default',
    )
    .option('--port <port>', 'port to listen on (default: $PORT or 8000)')
    .option('--host <host>', 'address to listen on (default: $HOST or 0.0.0.0)')
    .option('--no-worker', 'API only: batches are run by `freight worker` processes')
    .option(
      '--concurrency <n>',
      'batches this process runs at once (default: $FREIGHT_CONCURRENCY or 8)',
    )
    .action(async (flags) => {
      await (await commands.serve()).serve(loadConfig(), flags);
    });

  program
    .command('worker')
    .description(
      'run batches from the shared queue (needs REDIS_URL and the PostgreSQL DATABASE_URL the API uses)',
    )
    .option(
      '--concurrency <n>',
      'tasks (batches) this worker runs at once (default: $FREIGHT_CONCURRENCY or 8)',
    )
    .option(
      '--grace-ms <ms>',
      'on SIGTERM, how long running batches may take to finish (default 30000)',
    )
    .action(async (flags) => {
      await (await commands.worker()).worker(loadConfig(), flags);
    });

  program
    .command('mcp')
    .description(
      'MCP server on stdio for Claude Desktop and other MCP clients; calls the API at $FREIGHT_API_URL with $FREIGHT_API_KEY for $FREIGHT_TENANT_ID',
    )
    .option(
      '--toolsets <list>',
      'comma-separated toolsets to offer: jobs, logs, ops, admin (default: all, or $FREIGHT_MCP_TOOLSETS)',
    )
    .option('--read-only', 'offer only tools that change nothing (or FREIGHT_MCP_READ_ONLY=true)')
    .option('--no-output-schemas', 'do not declare output schemas (for clients that reject them)')
    .action(async (flags: { toolsets?: string; readOnly?: boolean; outputSchemas?: boolean }) => {
      await (
        await commands.mcp()
      ).runStdioServer(loadConfig(), {
        ...(flags.toolsets ? { toolsets: flags.toolsets } : {}),
        ...(flags.readOnly ? { readOnly: true } : {}),
        ...(flags.outputSchemas === false ? { outputSchemas: false } : {}),
      });
    });

  const jobs = program
    .command('jobs')
    .description(
      'follow jobs of a running Freight API ($FREIGHT_API_URL, $FREIGHT_API_KEY, $FREIGHT_TENANT_ID)',
    );
  jobs
    .command('watch')
    .description('follow a job live (progress bar from its event stream); exit 0 when it completed')
    .argument('<job-id>')
    .action(async (id: string) => {
      process.exitCode = await (await commands.watch()).watch(loadConfig(), id);
    });

  program
    .command('secrets')
    .description('manage the key that encrypts stored credentials')
    .command('rotate')
    .description(
      're-encrypt every stored credential with the current key (FREIGHT_SECRET_KEY; the old one in FREIGHT_SECRET_KEY_PREVIOUS)',
    )
    .action(async () => (await commands.secrets()).rotateSecrets(loadConfig()));

  const tenants = program.command('tenants').description('manage tenants');
  tenants
    .command('create')
    .argument('<id>', 'tenant id: a–z, 0–9, "-" and "_"')
    .option('--name <name>', 'display name')
    .action(async (id: string, flags) =>
      (await commands.admin()).tenantsCreate(loadConfig(), id, flags),
    );
  tenants.command('list').action(async () => (await commands.admin()).tenantsList(loadConfig()));

  const keys = program.command('keys').description('manage API keys');
  keys
    .command('create')
    .requiredOption('--tenant <id>', 'the tenant the key acts for')
    .requiredOption('--role <role>', 'viewer, engineer or admin')
    .option('--name <name>', 'what the key is for')
    .option('--create-tenant', 'create the tenant when it does not exist')
    .action(async (flags) => (await commands.admin()).keysCreate(loadConfig(), flags));
  keys
    .command('list')
    .option('--tenant <id>')
    .action(async (flags) => (await commands.admin()).keysList(loadConfig(), flags));
  keys
    .command('revoke')
    .argument('<key-id>')
    .action(async (id: string) => (await commands.admin()).keysRevoke(loadConfig(), id));

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (
      code === 'commander.helpDisplayed' ||
      code === 'commander.help' ||
      code === 'commander.version'
    ) {
      process.exitCode = 0;
      return;
    }
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = (error as { exitCode?: number }).exitCode ?? 1;
      return;
    }
    process.exitCode = reportError(error, process.argv.includes('--verbose'));
  }
}

await main(process.argv);
