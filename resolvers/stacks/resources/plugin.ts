import type { ServiceContext } from '../../runtime';

/**
 * The contract between the stacks engine and a resource type (Heat's "resource plugin").
 * A plugin maps one HOT type (OS::Nova::Server, OS::Neutron::Net, ...) onto a Stratus domain
 * by calling that domain's own service functions (createServers, createNetwork, ...) with the
 * stack owner's ServiceContext, so policy, quotas, validation and events are the domain's.
 * Plugins hold no GraphQL and no SQL of their own beyond reading their domain's rows.
 */

/** A property as Heat's properties schema describes it. */
export interface PropertySpec {
  type: 'string' | 'number' | 'integer' | 'boolean' | 'list' | 'map' | 'any';
  required?: boolean;
  default?: unknown;
  /** Heat's update_allowed: a change is applied in place; otherwise the resource is replaced. */
  updateAllowed?: boolean;
  /** Heat's immutable: a change is refused (the update fails) rather than replacing. */
  immutable?: boolean;
  /**
   * A null value is a value, passed to the plugin as null, not dropped as absent: Subnet's
   * `gateway_ip: null` is "no gateway", leaving it out is "the first address". Optional
   * (additive, H4); the engine's property check should keep null for these.
   */
  nullable?: boolean;
  description?: string;
}

/** The GraphQL node a physical resource is (StackResource.physicalResource edge). */
export type PhysicalType =
  | 'Server'
  | 'Flavor'
  | 'Keypair'
  | 'ServerGroup'
  | 'Image'
  | 'Network'
  | 'Subnet'
  | 'Port'
  | 'Router'
  | 'FloatingIp'
  | 'SecurityGroup'
  | 'SecurityGroupRule'
  | 'Volume'
  | 'VolumeAttachment'
  | 'Container'
  | 'Project'
  | 'User'
  | 'Group'
  | 'Role'
  | 'Alarm'
  | 'Stack';

/** What the engine passes to every plugin call. */
export interface ResourceContext {
  /** Acting as the stack's owner: their user, project and roles (Heat's trust). */
  svc: ServiceContext;
  stack: { id: string; name: string; projectId: string };
  /** The resource's name in the template. */
  name: string;
  /** `<stack name>-<resource name>-<short random>`: Heat's physical_resource_name, stable per resource. */
  physicalName: string;
  /** Property path prefix for errors: `resources.<name>.properties`. */
  path: string;
  /** Engine services a composite plugin needs (nested stacks, signals). */
  engine: EngineServices;
  /**
   * For a template resource: the `files` key of its template (TemplateResource.templateFile).
   * Optional (additive, H6): set by the engine for TEMPLATE_RESOURCE_TYPE resources.
   */
  templateFile?: string | null;
  /** The stack's `files` map (template resources, ResourceGroup members of a file type). */
  files?: Readonly<Record<string, string>>;
  /** The stack's environment, which nested stacks inherit (resource_registry), as Heat does. */
  environment?: unknown;
}

/** What the engine remembers of a created resource; passed back to every later call. */
export interface ResourceState {
  physicalId: string | null;
  /** The properties it was created (or last updated) with, resolved. */
  properties: Record<string, unknown>;
  /** The plugin's own data (Heat's resource_data): generated values, job ids, secrets. JSON. */
  data: Record<string, unknown>;
}

export interface CreateResult {
  physicalId: string | null;
  data?: Record<string, unknown>;
}

/** Progress of an asynchronous action: the engine polls `check*` until done (durably, on the job queue). */
export type Progress = { done: true } | { done: false; reason?: string };

export type UpdateResult =
  /** Applied in place; `data` replaces the stored data when given. */
  | { kind: 'updated'; data?: Record<string, unknown> }
  /** The plugin decided this change needs a new resource (e.g. a server's image under REPLACE). */
  | { kind: 'replace' };

/** Quota a resource would consume, for previewStack: `{ project, resource: 'instances', amount: 1 }`. */
export interface QuotaUse {
  resource: string;
  amount: number;
}

export interface ResourcePlugin {
  /** The HOT type name, e.g. `OS::Nova::Server`. */
  readonly type: string;
  readonly properties: Readonly<Record<string, PropertySpec>>;
  /** Attribute names get_attr may ask for (`show` is always allowed and gives all). */
  readonly attributes: readonly string[];
  readonly physicalType?: PhysicalType;
  /**
   * Checks the resolved properties against the live system without writing anything
   * (preview and validation): unknown flavor, image, network... Throws a typed error
   * (resolvers/errors.ts) whose message names the property path.
   */
  validate?(ctx: ResourceContext, properties: Record<string, unknown>): Promise<void>;
  /** What it would consume, for the preview's quota figures. */
  quota?(properties: Record<string, unknown>): QuotaUse[];
  /** Starts creating; must not wait for long-running work (use checkCreateComplete). */
  create(ctx: ResourceContext, properties: Record<string, unknown>): Promise<CreateResult>;
  checkCreateComplete?(ctx: ResourceContext, state: ResourceState): Promise<Progress>;
  /**
   * Applies changed updateAllowed properties in place. Absent: every change replaces.
   * `changed` names the properties whose resolved values differ.
   */
  update?(
    ctx: ResourceContext,
    state: ResourceState,
    properties: Record<string, unknown>,
    changed: readonly string[],
  ): Promise<UpdateResult>;
  checkUpdateComplete?(ctx: ResourceContext, state: ResourceState): Promise<Progress>;
  /** Starts deleting. A physical resource already gone is success (retries are safe). */
  delete(ctx: ResourceContext, state: ResourceState): Promise<void>;
  checkDeleteComplete?(ctx: ResourceContext, state: ResourceState): Promise<Progress>;
  /** One attribute's value; `show` gives the whole physical resource as a map. */
  attribute(ctx: ResourceContext, state: ResourceState, name: string): Promise<unknown>;
  /**
   * A signal (WaitConditionHandle, ScalingPolicy): data from a mutation or a webhook. A
   * returned `data` replaces the stored data (the engine persists it; it should run one
   * signal per resource at a time, under the row's lock, so concurrent signals do not lose one).
   */
  signal?(
    ctx: ResourceContext,
    state: ResourceState,
    details: unknown,
    // biome-ignore lint/suspicious/noConfusingVoidType: plugins with nothing to store return Promise<void>
  ): Promise<void | SignalResult>;
  /**
   * True when get_attr may name attributes beyond `attributes` (ResourceGroup: any member
   * attribute, `resource.<i>.<attr>`); the registry then leaves the names unchecked.
   */
  readonly dynamicAttributes?: boolean;
  /**
   * True when any property is accepted (OS::Heat::None): the registry does not check the
   * names. Optional (additive, H1).
   */
  readonly openProperties?: boolean;
  /**
   * True when `update` would answer {kind:'replace'} for this change, so a preview can say
   * REPLACE without calling update. Optional (additive, H1); absent: update is in place.
   */
  updateReplaces?(
    state: ResourceState,
    properties: Record<string, unknown>,
    changed: readonly string[],
  ): boolean;
}

/** What a signal may hand back for the engine to store. */
export interface SignalResult {
  data?: Record<string, unknown>;
}

/** What the engine offers to composite plugins (ResourceGroup, template resources, OS::Heat::Stack). */
export interface EngineServices {
  /**
   * Creates (or, when it exists, updates) the child stack of this resource from a template
   * text; returns its id. Completion is polled with `nestedStatus`.
   */
  applyNestedStack(input: {
    template: string;
    files?: Record<string, string>;
    parameters?: Record<string, unknown>;
    environment?: unknown;
  }): Promise<string>;
  nestedStatus(stackId: string): Promise<{ status: string; reason: string | null }>;
  nestedOutputs(stackId: string): Promise<Record<string, unknown>>;
  deleteNestedStack(stackId: string): Promise<void>;
  /** A signed URL a guest can POST (curl) to, signalling this resource. */
  signalUrl(): string;
  /**
   * Signals another resource of the same stack, as signalResource does (a ScalingPolicy
   * resizing its AutoScalingGroup). Optional (additive, H6).
   */
  signalResource?(resourceName: string, details: unknown): Promise<void>;
}
