import pino, { type DestinationStream, type Logger } from "pino";
import type { Config } from "./config/config";
import { REVISION, VERSION } from "./version";

/** JSON lines on stdout (journald collects them). Credentials are redacted wherever they might appear. */
export function createLogger(config: Pick<Config, "logLevel">, destination?: DestinationStream): Logger {
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
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
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
  const stream = (logger as unknown as Record<symbol, { write(line: string): void; fd?: number }>)[pino.symbols.streamSym];
  if (!stream || !logger.isLevelEnabled("info")) return () => {};
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
    pending += `{"level":"info","time":"${lastTime}",${bindings},"reqId":${JSON.stringify(line.reqId)},"method":${JSON.stringify(
      line.method,
    )},"route":${JSON.stringify(line.route)},"status":${line.status},"durationMs":${line.durationMs},"msg":"request"}\n`;
  };
}
