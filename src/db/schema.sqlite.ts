import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// Keep column names and meaning identical to schema.postgres.ts: behaviour is written once against them.
const at = (name: string) => integer(name, { mode: "timestamp_ms" });

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    username: text("username").notNull(),
    passwordHash: text("password_hash").notNull(),
    firstName: text("first_name").notNull(),
    lastName: text("last_name"),
    emailVerifiedAt: at("email_verified_at"),
    tokenVersion: integer("token_version").notNull().default(0),
    createdAt: at("created_at").notNull(),
    updatedAt: at("updated_at").notNull(),
  },
  (t) => [
    // An address is taken only by a verified account; pending registrations of it coexist.
    uniqueIndex("users_verified_email_unique").on(sql`lower(${t.email})`).where(sql`${t.emailVerifiedAt} IS NOT NULL`),
    index("users_email_idx").on(t.email),
    uniqueIndex("users_username_lower_unique").on(sql`lower(${t.username})`),
  ],
);

export const emailTokens = sqliteTable(
  "email_tokens",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    // verify_email (a link of the address: user_id is the registration it was made for) or reset_password.
    purpose: text("purpose").notNull(),
    tokenHash: text("token_hash").notNull().unique(),
    expiresAt: at("expires_at").notNull(),
    usedAt: at("used_at"),
    createdAt: at("created_at").notNull(),
  },
  (t) => [index("email_tokens_user_idx").on(t.userId, t.purpose)],
);

export const revokedTokens = sqliteTable("revoked_tokens", {
  jti: text("jti").primaryKey(),
  expiresAt: at("expires_at").notNull(),
});

export const emailOutbox = sqliteTable(
  "email_outbox",
  {
    id: text("id").primaryKey(),
    userId: text("user_id").references(() => users.id, { onDelete: "set null" }),
    kind: text("kind").notNull(),
    // Sealed (AES-GCM, src/auth/keys.ts) while pending; the keyed hash alone once delivered.
    recipient: text("recipient").notNull(),
    // Keyed hash of the mailbox (the address without its +tag): the per-mailbox email limit.
    recipientHash: text("recipient_hash"),
    // Sealed; cleared once the email is delivered or abandoned.
    link: text("link"),
    status: text("status").notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: at("next_attempt_at").notNull(),
    lockedUntil: at("locked_until"),
    lastError: text("last_error"),
    createdAt: at("created_at").notNull(),
    sentAt: at("sent_at"),
  },
  (t) => [
    index("email_outbox_due_idx").on(t.status, t.nextAttemptAt),
    index("email_outbox_user_idx").on(t.userId, t.kind, t.createdAt),
    index("email_outbox_recipient_idx").on(t.recipientHash, t.kind, t.createdAt),
  ],
);

export const rateLimits = sqliteTable("rate_limits", {
  key: text("key").primaryKey(),
  windowStart: integer("window_start").notNull(),
  count: integer("count").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

/**
 * A resend-verification or forgot-password request, written before its 202 for every well-formed address
 * (the same work whatever the address), resolved right after the answer into a link and an email, or
 * nothing; a request a crash left behind is resolved when the service starts again.
 */
export const emailRequests = sqliteTable("email_requests", {
  id: text("id").primaryKey(),
  /** verify_email or reset_password */
  kind: text("kind").notNull(),
  /** Sealed (AES-GCM, src/auth/keys.ts): no table but users keeps an address in clear. */
  address: text("address").notNull(),
  createdAt: at("created_at").notNull(),
});
