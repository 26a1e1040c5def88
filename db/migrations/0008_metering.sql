CREATE TABLE "metering_gaps" (
	"series_id" integer NOT NULL,
	"ts" timestamp with time zone NOT NULL,
	"reason" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "metering_rollups" (
	"series_id" integer NOT NULL,
	"granularity" integer NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"count" bigint NOT NULL,
	"sum" double precision NOT NULL,
	"min" double precision NOT NULL,
	"max" double precision NOT NULL,
	"first" double precision NOT NULL,
	"first_ts" timestamp with time zone NOT NULL,
	"last" double precision NOT NULL,
	"last_ts" timestamp with time zone NOT NULL,
	CONSTRAINT "metering_rollups_series_id_granularity_bucket_pk" PRIMARY KEY("series_id","granularity","bucket")
);
--> statement-breakpoint
CREATE TABLE "metering_samples" (
	"series_id" integer NOT NULL,
	"ts" timestamp with time zone NOT NULL,
	"value" double precision NOT NULL
);
--> statement-breakpoint
CREATE TABLE "metering_series" (
	"id" serial PRIMARY KEY NOT NULL,
	"meter" text NOT NULL,
	"resource_type" text NOT NULL,
	"resource_id" text NOT NULL,
	"project_id" uuid,
	"policy" text DEFAULT 'default' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "metering_gaps_series_ts" ON "metering_gaps" USING btree ("series_id","ts");--> statement-breakpoint
CREATE INDEX "metering_samples_series_ts" ON "metering_samples" USING btree ("series_id","ts");--> statement-breakpoint
CREATE UNIQUE INDEX "metering_series_key" ON "metering_series" USING btree ("meter","resource_type","resource_id");--> statement-breakpoint
CREATE INDEX "metering_series_resource" ON "metering_series" USING btree ("resource_type","resource_id");--> statement-breakpoint
CREATE INDEX "metering_series_project" ON "metering_series" USING btree ("project_id","meter");