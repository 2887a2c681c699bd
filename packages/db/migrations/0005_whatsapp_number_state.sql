ALTER TABLE "pages" ADD COLUMN "restricted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "pages" ADD COLUMN "restricted_reason" text;--> statement-breakpoint
ALTER TABLE "pages" ADD COLUMN "waba_id" text;