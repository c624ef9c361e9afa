// Preloaded into a `serve` process by test/observability/process-errors.test.ts only: SIGUSR2 provokes
// an error that nothing handles, the way a driver callback or a forgotten promise would.
process.on("SIGUSR2", () => {
  const error = new Error("provoked for the test (student@ualberta.ca)\nparams: $argon2id$v=19$secret-hash");
  if (process.env.CMF_TEST_PROVOKE === "exception") {
    setTimeout(() => {
      throw error;
    }, 0);
  } else {
    void Promise.reject(error);
  }
});
