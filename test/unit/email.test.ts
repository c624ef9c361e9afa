import { describe, expect, test } from "bun:test";
import { emailDomain, isAllowedDomain, isWellFormedEmail, normalizeEmail } from "../../src/auth/email";

describe("university domain matching", () => {
  const allowed = ["ualberta.ca", "edu"];
  test.each(["ualberta.ca", "cs.ualberta.ca", "a.b.ualberta.ca", "mit.edu", "cs.mit.edu", "UAlberta.CA"])("%s is allowed", (domain) => {
    expect(isAllowedDomain(domain, allowed)).toBe(true);
  });
  test.each(["evilualberta.ca", "ualberta.ca.evil.com", "ualberta.com", "edu.com", "notedu", "gmail.com", "ca"])(
    "%s is refused",
    (domain) => {
      expect(isAllowedDomain(domain, allowed)).toBe(false);
    },
  );
});

describe("email shape", () => {
  test("trims and lower-cases", () => expect(normalizeEmail("  Test@UAlberta.CA ")).toBe("test@ualberta.ca"));
  test.each(["test@ualberta.ca", "first.last+tag@cs.mit.edu"])("%s is well-formed", (email) => expect(isWellFormedEmail(email)).toBe(true));
  test.each(["plain", "a@b", "a b@mit.edu", "@mit.edu", "a@@mit.edu", "a@mit..edu", "a@-mit.edu", `${"a".repeat(250)}@mit.edu`])(
    "%s is refused",
    (email) => expect(isWellFormedEmail(email)).toBe(false),
  );
  test("local part at most 64, domain labels at most 63 characters (RFC 5321)", () => {
    expect(isWellFormedEmail(`${"a".repeat(64)}@mit.edu`)).toBe(true);
    expect(isWellFormedEmail(`${"a".repeat(65)}@mit.edu`)).toBe(false);
    expect(isWellFormedEmail(`a@${"b".repeat(63)}.edu`)).toBe(true);
    expect(isWellFormedEmail(`a@${"b".repeat(64)}.edu`)).toBe(false);
  });
  test.each(['"alice"@mit.edu', "al\u200bice@mit.edu", "al\u00adice@mit.edu", "a\u0000@mit.edu", "ü@mit.edu", "a.@mit.edu"])(
    "%j is refused (quoted, invisible, control or non-ASCII)",
    (email) => expect(isWellFormedEmail(email)).toBe(false),
  );
  test("domain is what follows the last @", () => expect(emailDomain("a@cs.mit.edu")).toBe("cs.mit.edu"));
});
