/**
 * The rollout drill's one binary (bun build --compile, copied into the systemd sandbox):
 * `drill serve` runs the students and the mailbox (drill-client.ts); `drill report` accounts for every
 * request afterwards, `drill served UNIT SECONDS` says what some instances served lately (drill-report.ts).
 */
export {};

const command = process.argv[2];
if (command === "serve") await import("./drill-client");
else if (command === "report") process.exit(await (await import("./drill-report")).report());
else if (command === "served") process.exit((await import("./drill-report")).served(process.argv[3] ?? "", Number(process.argv[4])));
else {
  process.stderr.write("usage: drill serve | drill report | drill served UNIT SECONDS\n");
  process.exit(64);
}
