/** The AI part of the configuration, already validated by the config package and passed in. */
export interface AiSettings {
  /** Initial kill-switch state (AI_ENABLED), stored in PostgreSQL when no operator has toggled it yet; the toggle wins over it. */
  enabled: boolean;
  apiKey: string | undefined;
  model: string;
  /** A stand-in origin (tests, staging); undefined means Google's default. */
  baseUrl: string | undefined;
  timeoutMs: number;
  maxCallsPerMin: number;
  maxCallsPerMinPerPsid: number;
  fallbackReply: string;
  /** Undefined means no daily limit. */
  dailyBudgetUsd?: number;
  /** Undefined means no monthly limit. */
  monthlyBudgetUsd?: number;
  priceInputPerMTokUsd: number;
  priceOutputPerMTokUsd: number;
  /** The default business instructions (AI_INSTRUCTIONS) for pages without their own. */
  instructions?: string | undefined;
}
