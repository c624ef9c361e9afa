import { describe, expect, test } from "bun:test";
import { passwordProblem } from "../../src/auth/password-policy";

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
});
