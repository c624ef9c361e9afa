/**
 * Compile-time proofs, checked by every tsconfig of this project (never run): each `@ts-expect-error`
 * fails the build if its line ever compiles, as it would if the client's types were lost (`any`).
 */
import { createClient } from "@classmatefinder/api";

const api = createClient("http://127.0.0.1:5000");

export async function mistakes(): Promise<void> {
  // @ts-expect-error: there is no such endpoint
  await api.api.auth.profile.get();
  // @ts-expect-error: a misspelled body field
  await api.api.auth.login.post({ email: "ada@mit.edu", pasword: "x" });
  const { data, error } = await api.api.auth.login.post({ email: "ada@mit.edu", password: "x" });
  // @ts-expect-error: data read before ruling out a failure
  console.log(data.token);
  // @ts-expect-error: a network failure has no error body
  if (error) console.log(error.value.error.code);
  // @ts-expect-error: login never answers 404
  if (error?.status === 404) return;
  // @ts-expect-error: a 401 of login is INVALID_CREDENTIALS, nothing else
  if (error?.status === 401 && error.value.error.code === "EMAIL_NOT_VERIFIED") return;
  // @ts-expect-error: the public user has no password hash
  if (data) console.log(data.user.passwordHash);
}
