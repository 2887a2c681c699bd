import { activitySection } from './activity.js';
import { aiRepliesSection } from './ai-replies.js';
import { conversationsSection } from './conversations.js';
import { deadLettersSection } from './dead-letters.js';
import { healthSection } from './health.js';
import { instructionsSection } from './instructions.js';
import { pageTokensSection } from './page-tokens.js';
import type { DashboardSection } from './section.js';

/** The dashboard, top to bottom. A new section is one more module here. */
export const DASHBOARD_SECTIONS: readonly DashboardSection[] = [
  healthSection,
  conversationsSection,
  aiRepliesSection,
  activitySection,
  deadLettersSection,
  pageTokensSection,
  instructionsSection,
];
