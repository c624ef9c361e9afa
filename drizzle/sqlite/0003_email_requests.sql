CREATE TABLE `email_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`address` text NOT NULL,
	`created_at` integer NOT NULL
);
