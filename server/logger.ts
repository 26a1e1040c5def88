import { pino } from 'pino';

export type Logger = pino.Logger;

/** Structured JSON logs on stdout; one logger per process, children per request. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'stratus' } });
}
