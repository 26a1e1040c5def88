CREATE TYPE "public"."container_format" AS ENUM('bare', 'aki', 'ari', 'ami');--> statement-breakpoint
CREATE TYPE "public"."disk_format" AS ENUM('raw', 'qcow2', 'iso', 'aki', 'ari', 'ami');--> statement-breakpoint
CREATE TYPE "public"."image_member_status" AS ENUM('pending', 'accepted', 'rejected');--> statement-breakpoint
CREATE TYPE "public"."image_status" AS ENUM('queued', 'saving', 'active', 'killed', 'deleted', 'deactivated');--> statement-breakpoint
CREATE TYPE "public"."image_visibility" AS ENUM('private', 'shared', 'community', 'public');--> statement-breakpoint
CREATE TABLE "image_members" (
	"image_id" uuid NOT NULL,
	"member_project_id" uuid NOT NULL,
	"status" "image_member_status" DEFAULT 'pending' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "image_members_image_id_member_project_id_pk" PRIMARY KEY("image_id","member_project_id")
);
--> statement-breakpoint
CREATE TABLE "images" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"owner_project_id" uuid NOT NULL,
	"name" text NOT NULL,
	"status" "image_status" DEFAULT 'queued' NOT NULL,
	"visibility" "image_visibility" DEFAULT 'shared' NOT NULL,
	"disk_format" "disk_format" NOT NULL,
	"container_format" "container_format" NOT NULL,
	"size_bytes" bigint,
	"virtual_size_bytes" bigint,
	"checksum" text,
	"os_hash_algo" text,
	"os_hash_value" text,
	"min_disk_gib" integer DEFAULT 0 NOT NULL,
	"min_ram_mib" integer DEFAULT 0 NOT NULL,
	"protected" boolean DEFAULT false NOT NULL,
	"tags" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"properties" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"storage_key" text,
	"failure_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "image_members" ADD CONSTRAINT "image_members_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "image_members" ADD CONSTRAINT "image_members_member_project_id_projects_id_fk" FOREIGN KEY ("member_project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_owner_project_id_projects_id_fk" FOREIGN KEY ("owner_project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "images_owner_idx" ON "images" USING btree ("owner_project_id");--> statement-breakpoint
CREATE INDEX "images_visibility_idx" ON "images" USING btree ("visibility");