import { afterAll, describe, expect, test } from "bun:test";
import { smokeCommand } from "../../src/cli/smoke";
import { createTestApp } from "../support/app";

const app = await createTestApp();
app.app.listen({ port: 0, hostname: "127.0.0.1" });
const base = `http://127.0.0.1:${app.app.server?.port}`;
afterAll(() => app.app.stop());

describe("smoke command", () => {
  test("passes against a healthy service", async () => {
    const lines: string[] = [];
    expect(await smokeCommand(base, (line) => lines.push(line))).toBe(0);
    expect(lines.filter((line) => line.startsWith("ok - ")).length).toBe(7);
    expect(lines.at(-1)).toBe("smoke: 7 passed, 0 failed");
  });

  test("fails (exit 1) when nothing answers, and explains each failure", async () => {
    const lines: string[] = [];
    expect(await smokeCommand("http://127.0.0.1:9", (line) => lines.push(line))).toBe(1);
    expect(lines.filter((line) => line.startsWith("not ok - ")).length).toBe(7);
  });

  test("without a URL it prints usage and exits 64", async () => {
    expect(await smokeCommand(undefined, () => {})).toBe(64);
  });
});
