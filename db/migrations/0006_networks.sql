CREATE TABLE "floating_ips" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"floating_network_id" uuid NOT NULL,
	"floating_port_id" uuid NOT NULL,
	"floating_ip_address" text NOT NULL,
	"port_id" uuid,
	"fixed_ip_address" text,
	"router_id" uuid,
	"status" text DEFAULT 'DOWN' NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ip_allocations" (
	"subnet_id" uuid NOT NULL,
	"ip" text NOT NULL,
	"port_id" uuid NOT NULL,
	"network_id" uuid NOT NULL,
	CONSTRAINT "ip_allocations_subnet_id_ip_pk" PRIMARY KEY("subnet_id","ip")
);
--> statement-breakpoint
CREATE TABLE "networks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"admin_state_up" boolean DEFAULT true NOT NULL,
	"shared" boolean DEFAULT false NOT NULL,
	"external" boolean DEFAULT false NOT NULL,
	"mtu" integer DEFAULT 1500 NOT NULL,
	"status" text DEFAULT 'ACTIVE' NOT NULL,
	"segmentation_id" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "port_security_groups" (
	"port_id" uuid NOT NULL,
	"security_group_id" uuid NOT NULL,
	CONSTRAINT "port_security_groups_port_id_security_group_id_pk" PRIMARY KEY("port_id","security_group_id")
);
--> statement-breakpoint
CREATE TABLE "ports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"network_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"mac_address" text NOT NULL,
	"device_owner" text DEFAULT '' NOT NULL,
	"device_id" text DEFAULT '' NOT NULL,
	"admin_state_up" boolean DEFAULT true NOT NULL,
	"status" text DEFAULT 'DOWN' NOT NULL,
	"port_security_enabled" boolean DEFAULT true NOT NULL,
	"allowed_address_pairs" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"binding_host" text,
	"created_for_server" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "routers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"admin_state_up" boolean DEFAULT true NOT NULL,
	"status" text DEFAULT 'ACTIVE' NOT NULL,
	"gateway_network_id" uuid,
	"enable_snat" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "security_group_rules" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"security_group_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"direction" text NOT NULL,
	"ethertype" text NOT NULL,
	"protocol" integer,
	"port_range_min" integer,
	"port_range_max" integer,
	"remote_ip_prefix" text,
	"remote_group_id" uuid,
	"description" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "security_groups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subnets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"network_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"ip_version" integer NOT NULL,
	"cidr" text NOT NULL,
	"gateway_ip" text,
	"allocation_pools" jsonb NOT NULL,
	"dns_nameservers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"host_routes" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"enable_dhcp" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "floating_ips" ADD CONSTRAINT "floating_ips_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "floating_ips" ADD CONSTRAINT "floating_ips_floating_network_id_networks_id_fk" FOREIGN KEY ("floating_network_id") REFERENCES "public"."networks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "floating_ips" ADD CONSTRAINT "floating_ips_floating_port_id_ports_id_fk" FOREIGN KEY ("floating_port_id") REFERENCES "public"."ports"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "floating_ips" ADD CONSTRAINT "floating_ips_port_id_ports_id_fk" FOREIGN KEY ("port_id") REFERENCES "public"."ports"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "floating_ips" ADD CONSTRAINT "floating_ips_router_id_routers_id_fk" FOREIGN KEY ("router_id") REFERENCES "public"."routers"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ip_allocations" ADD CONSTRAINT "ip_allocations_subnet_id_subnets_id_fk" FOREIGN KEY ("subnet_id") REFERENCES "public"."subnets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ip_allocations" ADD CONSTRAINT "ip_allocations_port_id_ports_id_fk" FOREIGN KEY ("port_id") REFERENCES "public"."ports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "networks" ADD CONSTRAINT "networks_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "port_security_groups" ADD CONSTRAINT "port_security_groups_port_id_ports_id_fk" FOREIGN KEY ("port_id") REFERENCES "public"."ports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "port_security_groups" ADD CONSTRAINT "port_security_groups_security_group_id_security_groups_id_fk" FOREIGN KEY ("security_group_id") REFERENCES "public"."security_groups"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ports" ADD CONSTRAINT "ports_network_id_networks_id_fk" FOREIGN KEY ("network_id") REFERENCES "public"."networks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ports" ADD CONSTRAINT "ports_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "routers" ADD CONSTRAINT "routers_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "routers" ADD CONSTRAINT "routers_gateway_network_id_networks_id_fk" FOREIGN KEY ("gateway_network_id") REFERENCES "public"."networks"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "security_group_rules" ADD CONSTRAINT "security_group_rules_security_group_id_security_groups_id_fk" FOREIGN KEY ("security_group_id") REFERENCES "public"."security_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "security_group_rules" ADD CONSTRAINT "security_group_rules_remote_group_id_security_groups_id_fk" FOREIGN KEY ("remote_group_id") REFERENCES "public"."security_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "security_groups" ADD CONSTRAINT "security_groups_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subnets" ADD CONSTRAINT "subnets_network_id_networks_id_fk" FOREIGN KEY ("network_id") REFERENCES "public"."networks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subnets" ADD CONSTRAINT "subnets_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "floating_ips_project_idx" ON "floating_ips" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "floating_ips_port_idx" ON "floating_ips" USING btree ("port_id");--> statement-breakpoint
CREATE INDEX "floating_ips_router_idx" ON "floating_ips" USING btree ("router_id");--> statement-breakpoint
CREATE INDEX "ip_allocations_port_idx" ON "ip_allocations" USING btree ("port_id");--> statement-breakpoint
CREATE UNIQUE INDEX "networks_segmentation_id_key" ON "networks" USING btree ("segmentation_id");--> statement-breakpoint
CREATE INDEX "networks_project_idx" ON "networks" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "port_security_groups_group_idx" ON "port_security_groups" USING btree ("security_group_id");--> statement-breakpoint
CREATE UNIQUE INDEX "ports_network_mac_key" ON "ports" USING btree ("network_id","mac_address");--> statement-breakpoint
CREATE INDEX "ports_project_idx" ON "ports" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "ports_device_idx" ON "ports" USING btree ("device_id");--> statement-breakpoint
CREATE INDEX "ports_network_idx" ON "ports" USING btree ("network_id");--> statement-breakpoint
CREATE INDEX "routers_project_idx" ON "routers" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "security_group_rules_group_idx" ON "security_group_rules" USING btree ("security_group_id");--> statement-breakpoint
CREATE INDEX "security_group_rules_remote_idx" ON "security_group_rules" USING btree ("remote_group_id");--> statement-breakpoint
CREATE INDEX "security_groups_project_idx" ON "security_groups" USING btree ("project_id");--> statement-breakpoint
CREATE UNIQUE INDEX "security_groups_default_key" ON "security_groups" USING btree ("project_id","is_default") WHERE "security_groups"."is_default";--> statement-breakpoint
CREATE INDEX "subnets_network_idx" ON "subnets" USING btree ("network_id");--> statement-breakpoint
CREATE INDEX "subnets_project_idx" ON "subnets" USING btree ("project_id");