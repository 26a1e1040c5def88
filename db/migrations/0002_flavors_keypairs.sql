CREATE TABLE "flavor_access" (
	"flavor_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	CONSTRAINT "flavor_access_flavor_id_project_id_pk" PRIMARY KEY("flavor_id","project_id")
);
--> statement-breakpoint
CREATE TABLE "flavors" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"vcpus" integer NOT NULL,
	"ram_mib" integer NOT NULL,
	"root_disk_gib" integer NOT NULL,
	"ephemeral_gib" integer DEFAULT 0 NOT NULL,
	"swap_mib" integer DEFAULT 0 NOT NULL,
	"extra_specs" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"is_public" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "keypairs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"name" text NOT NULL,
	"public_key" text NOT NULL,
	"fingerprint" text NOT NULL,
	"key_type" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "flavor_access" ADD CONSTRAINT "flavor_access_flavor_id_flavors_id_fk" FOREIGN KEY ("flavor_id") REFERENCES "public"."flavors"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "flavor_access" ADD CONSTRAINT "flavor_access_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "keypairs" ADD CONSTRAINT "keypairs_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "flavors_name_key" ON "flavors" USING btree (lower("name"));--> statement-breakpoint
CREATE UNIQUE INDEX "keypairs_user_name_key" ON "keypairs" USING btree ("user_id","name");