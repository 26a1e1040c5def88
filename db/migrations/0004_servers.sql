CREATE TYPE "public"."power_state" AS ENUM('nostate', 'running', 'paused', 'suspended', 'shutdown', 'crashed');--> statement-breakpoint
CREATE TYPE "public"."server_group_policy" AS ENUM('affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity');--> statement-breakpoint
CREATE TYPE "public"."vm_state" AS ENUM('building', 'active', 'stopped', 'paused', 'suspended', 'resized', 'error', 'deleted');--> statement-breakpoint
CREATE TABLE "compute_hosts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"hostname" text NOT NULL,
	"availability_zone" text DEFAULT 'nova' NOT NULL,
	"driver" text NOT NULL,
	"accelerator" text,
	"vcpus" integer NOT NULL,
	"memory_mib" integer NOT NULL,
	"disk_gib" integer NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "compute_hosts_hostname_unique" UNIQUE("hostname")
);
--> statement-breakpoint
CREATE TABLE "instance_action_events" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"action_id" uuid NOT NULL,
	"event" text NOT NULL,
	"result" text,
	"details" text,
	"start_time" timestamp with time zone DEFAULT now() NOT NULL,
	"finish_time" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "instance_actions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"server_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"user_id" uuid,
	"action" text NOT NULL,
	"request_id" text NOT NULL,
	"message" text,
	"start_time" timestamp with time zone DEFAULT now() NOT NULL,
	"finish_time" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "server_groups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"user_id" uuid,
	"name" text NOT NULL,
	"policy" "server_group_policy" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "servers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"user_id" uuid,
	"name" text NOT NULL,
	"vm_state" "vm_state" DEFAULT 'building' NOT NULL,
	"task_state" text,
	"power_state" "power_state" DEFAULT 'nostate' NOT NULL,
	"image_id" uuid,
	"kernel_image_id" uuid,
	"ramdisk_image_id" uuid,
	"flavor_id" uuid,
	"flavor" jsonb NOT NULL,
	"old_flavor" jsonb,
	"key_name" text,
	"key_data" text,
	"user_data" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"tags" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"server_group_id" uuid,
	"availability_zone" text,
	"host" text,
	"locked" boolean DEFAULT false NOT NULL,
	"locked_by" text,
	"locked_reason" text,
	"fault" jsonb,
	"launched_at" timestamp with time zone,
	"terminated_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "instance_action_events" ADD CONSTRAINT "instance_action_events_action_id_instance_actions_id_fk" FOREIGN KEY ("action_id") REFERENCES "public"."instance_actions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "instance_actions" ADD CONSTRAINT "instance_actions_server_id_servers_id_fk" FOREIGN KEY ("server_id") REFERENCES "public"."servers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "instance_actions" ADD CONSTRAINT "instance_actions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "server_groups" ADD CONSTRAINT "server_groups_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "servers" ADD CONSTRAINT "servers_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "instance_action_events_action_idx" ON "instance_action_events" USING btree ("action_id");--> statement-breakpoint
CREATE INDEX "instance_actions_server_idx" ON "instance_actions" USING btree ("server_id","start_time");--> statement-breakpoint
CREATE INDEX "server_groups_project_idx" ON "server_groups" USING btree ("project_id");--> statement-breakpoint
CREATE INDEX "servers_project_idx" ON "servers" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "servers_host_idx" ON "servers" USING btree ("host");--> statement-breakpoint
CREATE INDEX "servers_image_idx" ON "servers" USING btree ("image_id");--> statement-breakpoint
CREATE INDEX "servers_group_idx" ON "servers" USING btree ("server_group_id");--> statement-breakpoint
CREATE INDEX "servers_updated_idx" ON "servers" USING btree ("updated_at");