import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEmailTemplates, renderEmail, SHIPPED_TEMPLATES, TemplateError } from "../../src/mail/templates";
import { createTestApp } from "../support/app";
import { compiledBinary } from "../support/binary";

// Issue 28: operators change the emails' subjects and bodies without a rebuild (EMAIL_TEMPLATES_DIR).
const root = mkdtempSync(join(tmpdir(), "cmf-templates-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function templatesDir(files: Record<string, string>): string {
  const dir = join(root, crypto.randomUUID());
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

describe("EMAIL_TEMPLATES_DIR", () => {
  test("a file given replaces its part; the others stay the shipped ones; {{link}} and {{lifetime}} are filled in", () => {
    const dir = templatesDir({
      "verify_email.subject.txt": "Bestätige deine Adresse ({{lifetime}})\n",
      "verify_email.html.txt": '<p><a href="{{ link }}">Bestätigen</a> – {{lifetime}}</p>',
    });
    const templates = loadEmailTemplates(dir);
    const link = "https://app.example.edu/verify-email?token=abc&x=<1>";
    const email = renderEmail({ kind: "verify_email", to: "a@b.edu", from: "f@b.edu", link, lifetimeSeconds: 86400, templates });
    expect(email.subject).toBe("Bestätige deine Adresse (24 hours)");
    expect(email.html).toBe('<p><a href="https://app.example.edu/verify-email?token=abc&amp;x=&lt;1&gt;">Bestätigen</a> – 24 hours</p>');
    expect(email.text).toBe(renderEmail({ kind: "verify_email", to: "a@b.edu", from: "f@b.edu", link, lifetimeSeconds: 86400 }).text);
    expect(templates.reset_password).toEqual(SHIPPED_TEMPLATES.reset_password);
  });

  test.each([
    ["reset_password.text.txt", "Reset: {{url}}", "unknown variable {{url}}"],
    ["reset_password.text.txt", "Reset your password, no link here", "must contain {{link}}"],
    ["verify_email.subject.txt", "Two\nlines", "must be one line"],
    ["verify_email.subject.txt", "  \n", "is empty"],
    ["verify_email.subject.txt", "Click {{link}}", "must not contain the link"],
    ["verify_email.html.txt", "<a href='{{link}}'>x</a> {{lifetime", "has a {{ without its }}"],
    ["verify-email.text.txt", "{{link}}", "unknown template file"],
  ])("%s holding %j is refused: %s", (name, content, problem) => {
    const dir = templatesDir({ [name]: content });
    expect(() => loadEmailTemplates(dir)).toThrow(TemplateError);
    expect(() => loadEmailTemplates(dir)).toThrow(`${join(dir, name)}: ${problem}`);
  });

  test("the emails the service sends use them", async () => {
    const dir = templatesDir({ "verify_email.text.txt": "Custom body: {{link}} (valid {{lifetime}})" });
    const app = await createTestApp({ env: { EMAIL_TEMPLATES_DIR: dir } });
    const { email } = await app.registerUser({ verify: false });
    const sent = app.mail.sent.find((message) => message.to === email);
    expect(sent?.text).toMatch(/^Custom body: https:\/\/app\.classmatefinder\.test\/verify-email\?token=[\w-]+ \(valid 24 hours\)$/);
  });

  test("check of the compiled binary: a broken template is exit 78, naming the file", async () => {
    const dir = templatesDir({ "reset_password.html.txt": "<p>{{name}}</p>" });
    const child = Bun.spawn([await compiledBinary(), "check"], {
      cwd: root,
      env: { PATH: "/usr/bin:/bin", NODE_ENV: "test", DATABASE_URL: "file::memory:", EMAIL_TEMPLATES_DIR: dir },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    expect(code).toBe(78);
    expect(stderr).toContain("EMAIL_TEMPLATES_DIR");
    expect(stderr).toContain(join(dir, "reset_password.html.txt"));
    expect(stderr).toContain("unknown variable {{name}}");
  }, 180_000);
});
