/** Rate limits no benchmark reaches: the benchmarks measure the service, not its limits. */
export const UNLIMITED = "100000000/1m";

/**
 * The environment of a benchmarked service: production, everything it needs and nothing inherited by
 * accident. Stopping between scenarios need not wait out a load balancer's drain.
 */
export function benchServiceEnv(databaseUrl: string, port: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/tmp",
    NODE_ENV: "production",
    DATABASE_URL: databaseUrl,
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    JWT_SECRET: "bench-secret-0123456789abcdef0123456789abcdef",
    UNIVERSITY_DOMAINS: ".edu",
    METRICS_TOKEN: "bench-metrics-token",
    APP_URL: "https://bench.example.edu",
    RATE_LIMIT_LOGIN_ACCOUNT: UNLIMITED,
    RATE_LIMIT_LOGIN_CLIENT: UNLIMITED,
    RATE_LIMIT_REGISTER_CLIENT: UNLIMITED,
    RATE_LIMIT_EMAIL_REQUESTS_CLIENT: UNLIMITED,
    SHUTDOWN_DRAIN: "0",
  };
}
