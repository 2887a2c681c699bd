CREATE TABLE "ai_switch" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"enabled" boolean NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ai_switch_single_row" CHECK ("ai_switch"."id" = 1)
);
