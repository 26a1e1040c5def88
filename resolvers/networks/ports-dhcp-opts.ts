import { z } from 'zod';
import type { ExtraDhcpOptValue } from '../../db/tables';
import { extraDhcpOptProblem } from '../../drivers/network/extra-dhcp-opts';
import { InvalidInputError } from '../errors';

/** Neutron's extra_dhcp_opts on a port: input shape and checks (the names are dnsmasq's). */

export const extraDhcpOptInput = z.object({
  optName: z.string().min(1).max(100),
  optValue: z.string(),
  ipVersion: z.union([z.literal(4), z.literal(6)]).nullish(),
});

/** At most this many options per port. */
const MAX_OPTS = 20;

/**
 * Checks the options (known name, printable value, one per name and IP version) and returns
 * them as stored; InvalidInputError names `<field>.<index>.<part>`.
 */
export function checkExtraDhcpOpts(
  field: string,
  given: z.infer<typeof extraDhcpOptInput>[],
): ExtraDhcpOptValue[] {
  if (given.length > MAX_OPTS)
    throw new InvalidInputError(field, `${field} may hold at most ${MAX_OPTS} options`);
  const seen = new Set<string>();
  return given.map((o, i) => {
    const opt: ExtraDhcpOptValue = {
      optName: o.optName.trim(),
      optValue: o.optValue.trim(),
      ipVersion: o.ipVersion ?? 4,
    };
    const problem = extraDhcpOptProblem(opt);
    if (problem) {
      const at = `${field}.${i}.${problem.part}`;
      throw new InvalidInputError(at, `${at} ${problem.reason}`);
    }
    const key = `${opt.ipVersion}/${opt.optName}`;
    if (seen.has(key)) {
      throw new InvalidInputError(
        `${field}.${i}.optName`,
        `${field}.${i}.optName: "${opt.optName}" is given twice for IPv${opt.ipVersion}`,
      );
    }
    seen.add(key);
    return opt;
  });
}
