/** Generated templates for the large-template test and bench/stack-template-validate.ts (no vitest). */

/** A template of `n` resources: each server needs a port, each port the shared net. */
export function bigTemplate(n: number): string {
  const lines = [
    'heat_template_version: 2018-08-31',
    'parameters:',
    '  flavor: {type: string, default: m1.tiny}',
    'resources:',
    '  net: {type: OS::Neutron::Net}',
  ];
  for (let i = 1; i < n; i++) {
    if (i % 2 === 1) {
      lines.push(
        `  port${i}:`,
        '    type: OS::Neutron::Port',
        '    properties:',
        '      network: {get_resource: net}',
      );
    } else {
      lines.push(
        `  server${i}:`,
        '    type: OS::Nova::Server',
        '    properties:',
        '      flavor: {get_param: flavor}',
        `      name: {str_replace: {template: "srv-$i", params: {$i: ${i}}}}`,
        `      networks: [{port: {get_resource: port${i - 1}}}]`,
        `      metadata: {ip: {get_attr: [port${i - 1}, fixed_ips, 0, ip_address]}}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
