import { describe, expect, test } from "bun:test";
import { normalizePassword, passwordProblem } from "../../src/auth/password-policy";

describe("password policy", () => {
  test("TestPass123 is accepted", () => expect(passwordProblem("TestPass123", { username: "test", email: "test@ualberta.ca" })).toBeNull());
  test.each(["password1", "12345678", "qwertyuiop", "Password1", "iloveyou", "sunshine"])("common password %s is refused", (password) => {
    expect(passwordProblem(password)).toContain("common");
  });
  test("length limits are 8 to 128", () => {
    expect(passwordProblem("Xy7#kq9")).not.toBeNull();
    expect(passwordProblem("Xy7#kq9z")).toBeNull();
    expect(passwordProblem("Xy7#kq9z".repeat(16))).toBeNull();
    expect(passwordProblem(`${"Xy7#kq9z".repeat(16)}a`)).not.toBeNull();
  });
  test("equal to the username or the email's local part (any case) is refused", () => {
    expect(passwordProblem("Student_2024", { username: "student_2024" })).toContain("username");
    expect(passwordProblem("JANE.DOE.1990", { email: "jane.doe.1990@mit.edu" })).toContain("email");
  });
  test("length counts code points, not UTF-16 units", () => {
    expect(passwordProblem("😀😁😂🤣")).toContain("characters");
    expect(passwordProblem("😀😁😂🤣😀x7Q")).toBeNull();
    expect(passwordProblem("😀".repeat(64) + "x".repeat(64))).toBeNull();
  });
  test("one character repeated, or the whole email, is refused", () => {
    expect(passwordProblem("aaaaaaaa")).toContain("repeated");
    expect(passwordProblem("Jane.Doe@MIT.edu", { email: "jane.doe@mit.edu" })).toContain("email");
  });
  test("normalisation is NFKC", () => {
    expect(normalizePassword("Cre\u0300me-４２")).toBe("Crème-42");
  });
});
