CREATE TABLE "stack_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"stack_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"resource_name" text NOT NULL,
	"resource_type" text NOT NULL,
	"physical_id" text,
	"action" text NOT NULL,
	"status" text NOT NULL,
	"status_reason" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stack_resources" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"stack_id" uuid NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"action" text DEFAULT 'INIT' NOT NULL,
	"status" text DEFAULT 'COMPLETE' NOT NULL,
	"status_reason" text DEFAULT '' NOT NULL,
	"physical_id" text,
	"physical_type" text,
	"physical_name" text NOT NULL,
	"properties" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"requires" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"replaced_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stacks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"owner_user_id" uuid NOT NULL,
	"owner_roles" jsonb NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"action" text DEFAULT 'INIT' NOT NULL,
	"status" text DEFAULT 'COMPLETE' NOT NULL,
	"status_reason" text DEFAULT '' NOT NULL,
	"definition" jsonb NOT NULL,
	"previous_definition" jsonb,
	"disable_rollback" boolean DEFAULT false NOT NULL,
	"timeout_minutes" integer,
	"tags" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"parent_stack_id" uuid,
	"parent_resource_name" text,
	"generation" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "stack_events" ADD CONSTRAINT "stack_events_stack_id_stacks_id_fk" FOREIGN KEY ("stack_id") REFERENCES "public"."stacks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stack_resources" ADD CONSTRAINT "stack_resources_stack_id_stacks_id_fk" FOREIGN KEY ("stack_id") REFERENCES "public"."stacks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "stack_events_stack_idx" ON "stack_events" USING btree ("stack_id","id");--> statement-breakpoint
CREATE INDEX "stack_resources_stack_idx" ON "stack_resources" USING btree ("stack_id","name");--> statement-breakpoint
CREATE INDEX "stack_resources_physical_idx" ON "stack_resources" USING btree ("physical_type","physical_id");--> statement-breakpoint
CREATE UNIQUE INDEX "stacks_project_name_idx" ON "stacks" USING btree ("project_id","name");--> statement-breakpoint
CREATE INDEX "stacks_project_idx" ON "stacks" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "stacks_parent_idx" ON "stacks" USING btree ("parent_stack_id");