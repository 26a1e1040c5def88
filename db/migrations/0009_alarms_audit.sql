CREATE TABLE "alarm_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"alarm_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"type" text NOT NULL,
	"previous_state" text,
	"state" text NOT NULL,
	"reason" text NOT NULL,
	"values" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alarms" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"user_id" uuid,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"meter" text NOT NULL,
	"resource_type" text NOT NULL,
	"resource_ids" jsonb NOT NULL,
	"comparison" text NOT NULL,
	"threshold" double precision NOT NULL,
	"aggregation" text NOT NULL,
	"granularity" integer NOT NULL,
	"evaluation_periods" integer NOT NULL,
	"actions" jsonb NOT NULL,
	"repeat_actions" boolean DEFAULT false NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"state" text DEFAULT 'insufficient data' NOT NULL,
	"state_reason" text DEFAULT 'Not evaluated yet' NOT NULL,
	"state_changed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_evaluated_at" timestamp with time zone,
	"next_evaluation_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" bigint,
	"kind" text NOT NULL,
	"project_id" uuid,
	"resource_type" text NOT NULL,
	"resource_id" text NOT NULL,
	"user_id" text NOT NULL,
	"user_project_id" uuid,
	"request_id" text,
	"operation" text,
	"result" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "alarm_history" ADD CONSTRAINT "alarm_history_alarm_id_alarms_id_fk" FOREIGN KEY ("alarm_id") REFERENCES "public"."alarms"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "alarm_history_alarm_idx" ON "alarm_history" USING btree ("alarm_id","id");--> statement-breakpoint
CREATE INDEX "alarms_project_idx" ON "alarms" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "alarms_due_idx" ON "alarms" USING btree ("next_evaluation_at");--> statement-breakpoint
CREATE INDEX "audit_events_created_idx" ON "audit_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "audit_events_project_idx" ON "audit_events" USING btree ("project_id","id");--> statement-breakpoint
CREATE INDEX "audit_events_request_idx" ON "audit_events" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "audit_events_resource_idx" ON "audit_events" USING btree ("resource_type","resource_id");