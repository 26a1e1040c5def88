CREATE TYPE "public"."volume_attachment_status" AS ENUM('attaching', 'attached', 'detaching');--> statement-breakpoint
CREATE TYPE "public"."volume_snapshot_status" AS ENUM('creating', 'available', 'deleting', 'error');--> statement-breakpoint
CREATE TYPE "public"."volume_status" AS ENUM('creating', 'available', 'attaching', 'in-use', 'detaching', 'extending', 'deleting', 'error', 'error_deleting');--> statement-breakpoint
CREATE TABLE "volume_attachments" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"volume_id" uuid NOT NULL,
	"server_id" uuid NOT NULL,
	"device" text,
	"status" "volume_attachment_status" DEFAULT 'attaching' NOT NULL,
	"delete_on_termination" boolean DEFAULT false NOT NULL,
	"attached_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "volume_snapshots" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"volume_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"user_id" uuid,
	"name" text DEFAULT '' NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"size_gib" integer NOT NULL,
	"status" "volume_snapshot_status" DEFAULT 'creating' NOT NULL,
	"fault" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "volume_types" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"is_public" boolean DEFAULT true NOT NULL,
	"extra_specs" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "volumes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"user_id" uuid,
	"name" text DEFAULT '' NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"size_gib" integer NOT NULL,
	"status" "volume_status" DEFAULT 'creating' NOT NULL,
	"bootable" boolean DEFAULT false NOT NULL,
	"volume_type_id" uuid NOT NULL,
	"source_image_id" uuid,
	"source_snapshot_id" uuid,
	"host" text,
	"fault" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "volume_attachments" ADD CONSTRAINT "volume_attachments_volume_id_volumes_id_fk" FOREIGN KEY ("volume_id") REFERENCES "public"."volumes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volume_attachments" ADD CONSTRAINT "volume_attachments_server_id_servers_id_fk" FOREIGN KEY ("server_id") REFERENCES "public"."servers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volume_snapshots" ADD CONSTRAINT "volume_snapshots_volume_id_volumes_id_fk" FOREIGN KEY ("volume_id") REFERENCES "public"."volumes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volume_snapshots" ADD CONSTRAINT "volume_snapshots_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volumes" ADD CONSTRAINT "volumes_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volumes" ADD CONSTRAINT "volumes_volume_type_id_volume_types_id_fk" FOREIGN KEY ("volume_type_id") REFERENCES "public"."volume_types"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "volume_attachments_volume_key" ON "volume_attachments" USING btree ("volume_id");--> statement-breakpoint
CREATE INDEX "volume_attachments_server_idx" ON "volume_attachments" USING btree ("server_id");--> statement-breakpoint
CREATE INDEX "volume_snapshots_volume_idx" ON "volume_snapshots" USING btree ("volume_id");--> statement-breakpoint
CREATE INDEX "volume_snapshots_project_idx" ON "volume_snapshots" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "volume_types_name_key" ON "volume_types" USING btree (lower("name"));--> statement-breakpoint
CREATE INDEX "volumes_project_idx" ON "volumes" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "volumes_host_idx" ON "volumes" USING btree ("host");--> statement-breakpoint
CREATE INDEX "volumes_type_idx" ON "volumes" USING btree ("volume_type_id");--> statement-breakpoint
INSERT INTO "volume_types" ("name", "description") VALUES ('__DEFAULT__', 'Default Volume Type');
