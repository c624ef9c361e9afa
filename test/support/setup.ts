import { setDefaultTimeout } from "bun:test";

// Some tests start real processes and PostgreSQL databases; 5 s (Bun's default) is tight on two cores.
setDefaultTimeout(30_000);
