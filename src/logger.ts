import { fstatSync } from "node:fs";
import pino, { type DestinationStream, type Level, type Logger } from "pino";
import type { Config, JournalStream } from "./config/config";
import { REVISION, VERSION } from "./version";

/**
 * JSON lines on stdout (journald collects them). Credentials are redacted wherever they might appear.
 * When stdout is systemd's journal stream, each line carries its level's priority (see withJournalPriorities).
 */
export function createLogger(
  config: Pick<Config, "logLevel"> & Partial<Pick<Config, "journalStream">>,
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { service: "classmatefinder-backend", version: VERSION, revision: REVISION },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
      redact: {
        paths: [
          "password",
          "*.password",
          "token",
          "*.token",
          "authorization",
          "*.authorization",
          "headers.authorization",
          "passwordHash",
          "*.passwordHash",
        ],
        censor: "[redacted]",
      },
    },
    destination ?? stdout(config.journalStream ?? null),
  );
}

function stdout(journal: JournalStream | null): DestinationStream {
  const destination = pino.destination({ fd: 1, sync: true });
  return isJournal(1, journal) ? withJournalPriorities(destination, { stderr: isJournal(2, journal) }) : destination;
}

/** The syslog priority of each pino level, as the prefix journald reads (sd-daemon(3): "<3>" is SD_ERR). */
const JOURNAL_PRIORITY: Record<number, string> = { 10: "<7>", 20: "<7>", 30: "<6>", 40: "<4>", 50: "<3>", 60: "<2>" };
const INFO_PRIORITY = "<6>";
const JOURNAL = Symbol("journal");

/**
 * Whether file descriptor `fd` is the journal stream that JOURNAL_STREAM names: systemd.exec(5) asks to
 * compare device and inode, as the variable is inherited by children whose output may go elsewhere.
 */
function isJournal(fd: number, journal: JournalStream | null): boolean {
  if (!journal) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return `${stat.dev}:${stat.ino}` === journal;
  } catch {
    return false;
  }
}

type Destination = DestinationStream & { fd?: number };
/** What a journal destination remembers: the destination it prefixes, and whether stderr is the journal too. */
type JournalInfo = { destination: Destination; stderr: boolean };

/**
 * Prefixes each line with the journal priority of its level ("<3>{…}"): journald strips the prefix
 * (SyslogLevelPrefix=, on by default), files the line under that priority (`journalctl -p err`), and
 * the message stays the JSON object. pino hands a destination that asks for it each line's level.
 * `stderr`: stderr is the journal stream too (see writeStderr).
 */
export function withJournalPriorities(destination: Destination, options: { stderr: boolean }): DestinationStream {
  const info: JournalInfo = { destination, stderr: options.stderr };
  const stream = {
    [pino.symbols.needsMetadataGsym]: true,
    lastLevel: 30,
    [JOURNAL]: info,
    write(line: string) {
      destination.write(`${JOURNAL_PRIORITY[stream.lastLevel] ?? INFO_PRIORITY}${line}`);
    },
  };
  return stream as unknown as DestinationStream;
}

const destinationOf = (logger: Logger) =>
  (logger as unknown as Record<symbol, (Destination & { [JOURNAL]?: JournalInfo }) | undefined>)[pino.symbols.streamSym];

/** A plain line on stderr for a person (a terminal, `systemctl status`): at `level`'s priority when stderr is the journal. */
export function writeStderr(logger: Logger, level: Level, text: string): void {
  const prefix = destinationOf(logger)?.[JOURNAL]?.stderr ? (JOURNAL_PRIORITY[pino.levels.values[level] as number] ?? "") : "";
  process.stderr.write(`${prefix}${text}\n`);
}

const QUERY_PARAMETERS = /\nparams: [\s\S]*?(?=\n\s+at |$)/;

/** Removes the values from a failed query's message ("params: …"): they can be emails, hashes or links. */
export function withoutQueryParameters(text: string): string;
export function withoutQueryParameters(text: string | undefined): string | undefined;
export function withoutQueryParameters(text: string | undefined): string | undefined {
  return text?.replace(QUERY_PARAMETERS, "\nparams: [redacted]");
}

/** pino's error serializer, minus query parameters (drizzle puts them in the message and in `params`). */
function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { params: _params, ...serialized } = pino.stdSerializers.err(error) as ReturnType<typeof pino.stdSerializers.err> & {
    params?: unknown;
  };
  return { ...serialized, message: withoutQueryParameters(serialized.message), stack: withoutQueryParameters(serialized.stack) };
}

export interface RequestLine {
  reqId: string;
  method: string;
  route: string;
  status: number;
  durationMs: number;
}

/**
 * Writes the per-request line, the one line written for every request, to `logger`'s destination at
 * info level, in the same shape pino gives it. Serialised by hand (its fields are fixed and cannot hold
 * a credential), and the lines of one event-loop turn go out in one write: pino's general path and one
 * write(2) per line were a quarter of the CPU of a health check.
 */
export function requestLineWriter(logger: Logger): (line: RequestLine) => void {
  const destination = destinationOf(logger);
  if (!destination || !logger.isLevelEnabled("info")) return () => {};
  // To the journal: info's priority, written by hand like the rest of the line, to the destination it prefixes.
  const journal = destination[JOURNAL];
  const stream = journal?.destination ?? destination;
  const priority = journal ? INFO_PRIORITY : "";
  // Standard output (production) goes through Bun's native buffered writer; other destinations (tests) as given.
  const stdout = stream.fd === 1 ? Bun.stdout.writer() : null;
  const write = stdout
    ? (lines: string) => {
        stdout.write(lines);
        void stdout.flush();
      }
    : (lines: string) => stream.write(lines);
  const bindings = JSON.stringify(logger.bindings()).slice(1, -1);
  let pending = "";
  let lastMs = 0;
  let lastTime = "";
  const flush = () => {
    const lines = pending;
    pending = "";
    write(lines);
  };
  return (line) => {
    if (pending === "") setImmediate(flush);
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = new Date(now).toISOString();
    }
    pending += `${priority}{"level":"info","time":"${lastTime}",${bindings},"reqId":${JSON.stringify(line.reqId)},"method":${JSON.stringify(
      line.method,
    )},"route":${JSON.stringify(line.route)},"status":${line.status},"durationMs":${line.durationMs},"msg":"request"}\n`;
  };
}
