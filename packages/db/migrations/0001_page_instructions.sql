CREATE TABLE "page_instructions" (
	"page_id" text PRIMARY KEY NOT NULL,
	"instructions_sealed" text NOT NULL,
	"key_id" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
