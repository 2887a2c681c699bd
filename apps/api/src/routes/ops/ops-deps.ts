import type { BudgetGuard, Responder } from '@switchboard/ai';
import type { Config } from '@switchboard/config';
import type { MetricsExporter } from '@switchboard/observability';
import type { ApiResources } from '../../resources.js';

/** What every ops route plugin receives: built once per app in index.ts. */
export interface OpsDeps {
  config: Config;
  resources: ApiResources;
  /** The same responder the workers use, for POST /ops/ai/ping. */
  responder: Responder;
  budget: BudgetGuard;
  metrics: MetricsExporter;
}

/** The `{ error }` body of every 4xx the ops routes answer themselves. */
export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error'],
} as const;
