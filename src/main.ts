#!/usr/bin/env bun
import { backupCommand } from "./cli/backup";
import { checkCommand, migrateCommand, migrateStatusCommand, serveCommand, USAGE } from "./cli/commands";
import { fatal } from "./cli/fatal";
import { rollbackNotesCommand, unitCommand } from "./cli/release";
import { smokeCommand } from "./cli/smoke";
import { waitReadyCommand } from "./cli/wait-ready";
import { CONFIG_EXIT_CODE, type Config, ConfigError, parseConfig, parseJournalStream } from "./config/config";
import { refuseStrayDevelopmentDatabase } from "./config/development-database";
import { describeError } from "./db/errors";
import { createLogger } from "./logger";
import { handleProcessErrors } from "./observability/process-errors";
import { PROGRAM, REVISION, VERSION } from "./version";

/** The single entry point, from the checkout (`bun src/main.ts …`) and as the compiled binary. */
async function main(args: string[]): Promise<number> {
  const command = args.join(" ") || "serve";
  if (command === "--version" || command === "-v") {
    process.stdout.write(`${PROGRAM} ${VERSION} (revision ${REVISION})\n`);
    return 0;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args[0] === "smoke") return smokeCommand(args[1]);
  if (args[0] === "unit") return unitCommand(args.slice(1));
  if (command === "rollback-notes") return rollbackNotesCommand();
  if (args[0] === "rollout-check") return (await import("./cli/rollout-check")).rolloutCheckCommand(args.slice(1));
  const commands: Record<string, (config: Config) => Promise<number>> = {
    serve: serveCommand,
    migrate: migrateCommand,
    "migrate status": migrateStatusCommand,
    check: checkCommand,
  };
  if (args[0] === "backup" && args.length <= 2) commands[command] = (config) => backupCommand(config, args[1]);
  if (args[0] === "users") commands[command] = async (config) => (await import("./cli/users")).usersCommand(config, args.slice(1));
  if (args[0] === "wait-ready" && args.length <= 2) commands[command] = (config) => waitReadyCommand(config, args[1]);
  const run = commands[command];
  if (!run) {
    process.stderr.write(`${PROGRAM}: unknown command "${command}"\n\n${USAGE}\n`);
    return 64;
  }
  let config: Config;
  try {
    config = parseConfig(process.env);
    refuseStrayDevelopmentDatabase(config, { uid: process.getuid?.(), cwd: process.cwd() });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    fatal(`invalid configuration: ${error.message}`, { variable: error.variable }, bootLogger);
    return CONFIG_EXIT_CODE;
  }
  return run(config);
}

// Until `serve` has its own: the lines about a start that fails, at their journal priority too.
const bootLogger = createLogger({ logLevel: "info", journalStream: parseJournalStream(process.env) });
handleProcessErrors(bootLogger);
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    fatal(describeError(error), {}, bootLogger);
    process.exit(1);
  },
);
