/**
 * `drill report`: every request the drill's students sent, accounted for. Each is found by its
 * X-Request-Id in nginx's log (the status the student got) and in exactly one request line of the
 * service's journal (the status it answered, and the release that answered: this release's lines carry
 * `revision`, the previous release's do not). Then, per stage, the share the new release served
 * against the share nginx's weights give it. Prints `ok -` / `not ok -` lines; exit 1 on any failure.
 */
import type { RequestRecord } from "./drill-client";

const DIR = process.env.DRILL_DIR ?? "/run/drill";
const NGINX_LOG = process.env.DRILL_NGINX_LOG ?? "/var/log/nginx/drill.log";
/** `stage:min-max` of the new release's share in %, comma-separated, e.g. `previous:0-0,canary-10:3-25`. */
const EXPECTED_SHARES = process.env.DRILL_SHARES ?? "";

interface Served {
  status: number;
  revision?: string;
  unit: string;
}

interface RequestLine {
  msg?: string;
  reqId?: string;
  route?: string;
  status?: number;
  durationMs?: number;
  revision?: string;
  unit: string;
}

/** The service's request lines in the journal, of the given units (systemd patterns), optionally since a time. */
function requestLines(units: string[], since?: string): RequestLine[] {
  const args = ["journalctl", "-o", "json", "--no-pager", ...units.flatMap((unit) => ["-u", unit])];
  if (since) args.push("--since", since);
  const journal = Bun.spawnSync(args, { stdout: "pipe", stderr: "inherit" });
  const lines: RequestLine[] = [];
  for (const entry of journal.stdout.toString().split("\n")) {
    if (!entry) continue;
    const { MESSAGE: message, _SYSTEMD_UNIT: unit } = JSON.parse(entry) as { MESSAGE?: unknown; _SYSTEMD_UNIT?: string };
    if (typeof message !== "string" || !message.startsWith("{")) continue;
    try {
      const line = { ...(JSON.parse(message) as Omit<RequestLine, "unit">), unit: unit ?? "?" };
      if (line.msg === "request") lines.push(line);
    } catch {
      // systemd's own lines and the plain-text copy of fatal lines are not JSON
    }
  }
  return lines;
}

function journalRequests(): Map<string, Served[]> {
  const served = new Map<string, Served[]>();
  for (const line of requestLines(["classmatefinder-backend@*", "classmatefinder-backend-canary@*"])) {
    if (!line.reqId?.startsWith("drill-")) continue;
    served.set(line.reqId, [...(served.get(line.reqId) ?? []), { status: line.status ?? 0, revision: line.revision, unit: line.unit }]);
  }
  return served;
}

/**
 * `drill served UNIT SECONDS`: what the instances of UNIT (a systemd pattern) served of the API in the
 * last SECONDS, from their own request lines — independent of Prometheus, to hold the gate against:
 * `{"requests", "failures" (5xx), "p95Ms"}`.
 */
export function served(unit: string, seconds: number): number {
  const api = requestLines([unit], `-${seconds}s`).filter((line) => line.route?.startsWith("/api/"));
  const durations = api.map((line) => line.durationMs ?? 0).sort((a, b) => a - b);
  const p95Ms = durations.length === 0 ? null : durations[Math.ceil(0.95 * durations.length) - 1];
  const failures = api.filter((line) => (line.status ?? 0) >= 500).length;
  console.log(JSON.stringify({ requests: api.length, failures, p95Ms }));
  return 0;
}

async function nginxStatuses(): Promise<Map<string, number[]>> {
  const statuses = new Map<string, number[]>();
  for (const line of (await Bun.file(NGINX_LOG).text()).split("\n")) {
    const [id, status] = line.split(" ");
    if (!id?.startsWith("drill-")) continue;
    statuses.set(id, [...(statuses.get(id) ?? []), Number(status)]);
  }
  return statuses;
}

export async function report(): Promise<number> {
  const records = (await Bun.file(`${DIR}/requests.json`).json()) as RequestRecord[];
  const requests = records.filter((r) => r.id.startsWith("drill-"));
  const journal = journalRequests();
  const nginx = await nginxStatuses();
  let failed = 0;
  const check = (ok: boolean, what: string, details: string[] = []) => {
    if (!ok) failed++;
    console.log(`${ok ? "ok" : "not ok"} - ${what}`);
    for (const line of details.slice(0, 15)) console.log(`#   ${line}`);
  };

  const problems = records.filter((r) => r.problem);
  check(
    problems.length === 0,
    `every answer was the one expected (${requests.length} requests)`,
    problems.map((r) => `${r.stage} ${r.method} ${r.path} ${r.id}: ${r.problem}`),
  );
  const losses = records.filter((r) => r.documentedLoss);
  if (losses.length > 0) console.log(`# ${losses.length} verification link(s) refused, as the new release's rollback notes say`);

  const notInNginx = requests.filter((r) => {
    const seen = nginx.get(r.id) ?? [];
    return seen.length !== 1 || seen[0] !== r.status;
  });
  check(
    notInNginx.length === 0,
    "nginx logged every request once, with the status the student got",
    notInNginx.map((r) => `${r.id} ${r.status}: nginx ${nginx.get(r.id)?.join(",") ?? "none"}`),
  );

  const notServedOnce = requests.filter((r) => {
    const lines = journal.get(r.id) ?? [];
    return lines.length !== 1 || lines[0]?.status !== r.status;
  });
  check(
    notServedOnce.length === 0,
    "the service's journal has exactly one request line for each, with the same status",
    notServedOnce.map(
      (r) =>
        `${r.id} ${r.method} ${r.path} ${r.status}: ${(journal.get(r.id) ?? []).map((l) => `${l.unit} ${l.status}`).join(", ") || "no line"}`,
    ),
  );

  // Per stage: which release answered (from the journal line of each request).
  const stages = [...new Set(requests.map((r) => r.stage))];
  console.log("# stage            requests   new release   previous release   failed");
  const shares = new Map<string, number>();
  for (const stage of stages) {
    const inStage = requests.filter((r) => r.stage === stage);
    const byNew = inStage.filter((r) => journal.get(r.id)?.[0]?.revision).length;
    const share = inStage.length === 0 ? 0 : (100 * byNew) / inStage.length;
    shares.set(stage, share);
    const failures = inStage.filter((r) => r.problem).length;
    console.log(
      `# ${stage.padEnd(16)} ${String(inStage.length).padStart(8)}   ${`${byNew} (${share.toFixed(1)} %)`.padStart(11)}   ${String(inStage.length - byNew).padStart(16)}   ${String(failures).padStart(6)}`,
    );
  }
  for (const expectation of EXPECTED_SHARES.split(",").filter(Boolean)) {
    const [stage, range] = expectation.split(":");
    const [min, max] = (range ?? "").split("-").map(Number);
    const share = shares.get(stage ?? "");
    check(
      share !== undefined && share >= (min ?? 0) && share <= (max ?? 100),
      `${stage}: the new release answered ${share?.toFixed(1) ?? "no"} % of the requests (nginx's weights: ${min}–${max} %)`,
    );
  }
  return failed === 0 ? 0 : 1;
}
