CREATE TABLE "audit_log" (
	"id" serial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"target" text,
	"ip" text,
	"request_id" text,
	"details" jsonb
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"page_id" text NOT NULL,
	"sender_hash" text,
	"mid_hash" text,
	"type" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"outcome" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"event_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"processed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"last_error_code" integer
);
--> statement-breakpoint
CREATE TABLE "users" (
	"channel" text NOT NULL,
	"sender_hash" text NOT NULL,
	"page_id" text NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"message_count" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "replies" (
	"event_id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"page_id" text NOT NULL,
	"sender_hash" text NOT NULL,
	"path" text NOT NULL,
	"reason" text NOT NULL,
	"decide_latency_ms" integer NOT NULL,
	"end_to_end_ms" integer,
	"parts" integer DEFAULT 1 NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"graph_message_ids" text[],
	"error_code" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "pages" (
	"page_id" text PRIMARY KEY NOT NULL,
	"channel" text NOT NULL,
	"token_kind" text DEFAULT 'page' NOT NULL,
	"token_sealed" text NOT NULL,
	"token_key_id" text NOT NULL,
	"token_status" text DEFAULT 'unknown' NOT NULL,
	"monitoring_status" text DEFAULT 'ok' NOT NULL,
	"expires_at" timestamp with time zone,
	"data_access_expires_at" timestamp with time zone,
	"never_expires" boolean DEFAULT false NOT NULL,
	"scopes" text[],
	"token_issued_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_checked_at" timestamp with time zone,
	"invalidated_at" timestamp with time zone,
	"invalid_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "token_refresh_log" (
	"id" serial PRIMARY KEY NOT NULL,
	"page_id" text NOT NULL,
	"action" text NOT NULL,
	"checked_at" timestamp with time zone DEFAULT now() NOT NULL,
	"is_valid" boolean,
	"expires_at" timestamp with time zone,
	"data_access_expires_at" timestamp with time zone,
	"scopes" text[],
	"status" text,
	"ok" boolean DEFAULT true NOT NULL,
	"error" text,
	"details" jsonb
);
--> statement-breakpoint
CREATE INDEX "audit_log_at_idx" ON "audit_log" USING btree ("at");--> statement-breakpoint
CREATE INDEX "events_received_at_idx" ON "events" USING btree ("received_at","id");--> statement-breakpoint
CREATE INDEX "events_status_received_idx" ON "events" USING btree ("status","received_at");--> statement-breakpoint
CREATE INDEX "events_conversation_idx" ON "events" USING btree ("channel","page_id","sender_hash","event_at");--> statement-breakpoint
CREATE UNIQUE INDEX "users_channel_sender_uq" ON "users" USING btree ("channel","sender_hash");--> statement-breakpoint
CREATE INDEX "replies_created_at_idx" ON "replies" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "token_refresh_log_page_idx" ON "token_refresh_log" USING btree ("page_id","checked_at");