/**
 * A scrape without the release labels that every counter and histogram ends with (`version`, `revision`),
 * so that tests about other labels can name a series as before: `auth_logins_total{result="success"} 1`.
 */
export function withoutRelease(text: string): string {
  return text.replace(/,?version="[^"\n]*",revision="[^"\n]*"\}/g, "}").replace(/\{\}/g, "");
}
