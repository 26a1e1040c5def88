CREATE TYPE "public"."node_power_state" AS ENUM('power on', 'power off', 'unknown');--> statement-breakpoint
CREATE TYPE "public"."node_provision_state" AS ENUM('enroll', 'verifying', 'manageable', 'inspecting', 'inspect failed', 'available', 'deploying', 'wait call-back', 'active', 'deploy failed', 'deleting', 'cleaning', 'clean wait', 'clean failed', 'error');--> statement-breakpoint
CREATE TABLE "baremetal_nodes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"driver" text DEFAULT 'ipmi' NOT NULL,
	"bmc_address" text NOT NULL,
	"bmc_port" integer DEFAULT 623 NOT NULL,
	"bmc_username" text NOT NULL,
	"bmc_password_sealed" text NOT NULL,
	"bmc_interface" text DEFAULT 'lanplus' NOT NULL,
	"cpus" integer NOT NULL,
	"memory_mb" integer NOT NULL,
	"local_gb" integer NOT NULL,
	"cpu_arch" text NOT NULL,
	"resource_class" text NOT NULL,
	"provision_state" "node_provision_state" DEFAULT 'enroll' NOT NULL,
	"target_provision_state" text,
	"power_state" "node_power_state",
	"target_power_state" text,
	"boot_device" text,
	"boot_persistent" boolean,
	"maintenance" boolean DEFAULT false NOT NULL,
	"maintenance_reason" text,
	"last_error" text,
	"sync_failures" integer DEFAULT 0 NOT NULL,
	"sync_lease_until" timestamp with time zone,
	"last_synced_at" timestamp with time zone,
	"reservation" uuid,
	"instance_id" uuid,
	"instance_info" jsonb,
	"deploy_step" text,
	"deploy_report" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "baremetal_ports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"node_id" uuid NOT NULL,
	"mac_address" text NOT NULL,
	"network_id" uuid,
	"port_id" uuid,
	"position" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "baremetal_ports" ADD CONSTRAINT "baremetal_ports_node_id_baremetal_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."baremetal_nodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "baremetal_ports" ADD CONSTRAINT "baremetal_ports_network_id_networks_id_fk" FOREIGN KEY ("network_id") REFERENCES "public"."networks"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "baremetal_ports" ADD CONSTRAINT "baremetal_ports_port_id_ports_id_fk" FOREIGN KEY ("port_id") REFERENCES "public"."ports"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "baremetal_nodes_name_key" ON "baremetal_nodes" USING btree (lower("name"));--> statement-breakpoint
CREATE INDEX "baremetal_nodes_state_idx" ON "baremetal_nodes" USING btree ("provision_state","resource_class");--> statement-breakpoint
CREATE UNIQUE INDEX "baremetal_nodes_instance_key" ON "baremetal_nodes" USING btree ("instance_id");--> statement-breakpoint
CREATE UNIQUE INDEX "baremetal_ports_mac_key" ON "baremetal_ports" USING btree ("mac_address");--> statement-breakpoint
CREATE INDEX "baremetal_ports_node_idx" ON "baremetal_ports" USING btree ("node_id","position");