ALTER TABLE "events" ADD COLUMN "answered_by" text;
