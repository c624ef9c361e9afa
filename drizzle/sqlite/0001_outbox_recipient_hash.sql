ALTER TABLE `email_outbox` ADD `recipient_hash` text;--> statement-breakpoint
CREATE INDEX `email_outbox_recipient_idx` ON `email_outbox` (`recipient_hash`,`kind`,`created_at`);