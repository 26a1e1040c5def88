import { randomBytes } from 'node:crypto';
import type { TestStratus } from './harness';

export type RoleName = 'admin' | 'member' | 'reader';

export interface SeededUser {
  userId: string;
  userName: string;
  password: string;
  projectId: string;
  /** A token scoped to the project, or null for a user with no role. */
  token: string | null;
}

const suffix = () => randomBytes(3).toString('hex');

/** Fluent world-building for tests: projects, users with roles on them, and their tokens. */
export class Seed {
  constructor(private readonly s: TestStratus) {}

  async project(name = `project-${suffix()}`): Promise<string> {
    const data = await this.s.ok(
      `mutation($input: CreateProjectInput!) { createProject(input: $input) { ... on CreateProjectSuccess { project { id } } ... on Error { message } } }`,
      { input: { domainId: this.s.defaultDomainId, name } },
      this.s.adminToken,
    );
    if (!data.createProject.project) throw new Error(JSON.stringify(data));
    return data.createProject.project.id;
  }

  async roleId(name: string): Promise<string> {
    const data = await this.s.ok(
      `{ roles(first: 100) { edges { node { id name } } } }`,
      {},
      this.s.adminToken,
    );
    const role = data.roles.edges.find((e: { node: { name: string } }) => e.node.name === name);
    if (!role) throw new Error(`no role ${name}`);
    return role.node.id;
  }

  async user(
    name = `user-${suffix()}`,
    password = `pw-${suffix()}-long`,
  ): Promise<{ userId: string; userName: string; password: string }> {
    const data = await this.s.ok(
      `mutation($input: CreateUserInput!) { createUser(input: $input) { ... on CreateUserSuccess { user { id } } ... on Error { message } } }`,
      { input: { domainId: this.s.defaultDomainId, name, password } },
      this.s.adminToken,
    );
    if (!data.createUser.user) throw new Error(JSON.stringify(data));
    return { userId: data.createUser.user.id, userName: name, password };
  }

  async assign(role: RoleName | string, userId: string, projectId: string): Promise<void> {
    const data = await this.s.ok(
      `mutation($input: RoleAssignmentInput!) { assignRole(input: $input) { __typename ... on Error { message } } }`,
      { input: { roleId: await this.roleId(role), userId, projectId } },
      this.s.adminToken,
    );
    if (data.assignRole.__typename !== 'AssignRoleSuccess') throw new Error(JSON.stringify(data));
  }

  /** A new user with `role` on `projectId` (a new project when omitted), logged in scoped to it. */
  async member(role: RoleName | null, projectId?: string): Promise<SeededUser> {
    const project = projectId ?? (await this.project());
    const user = await this.user();
    if (!role)
      return {
        ...user,
        projectId: project,
        token: await this.s.login(user.userName, user.password),
      };
    await this.assign(role, user.userId, project);
    const token = await this.s.login(user.userName, user.password, { projectId: project });
    return { ...user, projectId: project, token };
  }
}
