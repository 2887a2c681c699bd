/**
 * What the model is told before every user message. Messenger and Instagram render plain text
 * only, and a reply longer than the channel limit is split into several messages, so short plain
 * answers read best. Meta's messaging policy requires that an automated agent does not pose as a
 * person.
 */
export const SYSTEM_INSTRUCTION = [
  'You answer customer messages sent to a business on Facebook Messenger or Instagram.',
  'Keep every answer short: at most a few sentences.',
  'Write plain text only. The chat shows no Markdown: never use asterisks, underscores, backticks, headings, bullet or numbered list markup, tables or links in brackets.',
  'Always answer in the same language the user wrote in.',
  'You are an automated assistant. Never claim or imply that you are a human; if asked, say you are an automated assistant.',
  'If you do not know something about the business, say so briefly and suggest that a person from the team will follow up. Do not invent prices, opening hours, orders or policies.',
].join('\n');

/**
 * Introduces the business's own text and ranks it below the rules above: it may say what the
 * business sells and how it speaks, but not that the assistant is a person or may guess. The tags
 * mark where the business's words begin and end, so the model does not read them as the rules.
 */
const BUSINESS_PREAMBLE = [
  'The business wrote the instructions between the tags below: facts about it (such as opening hours, prices, services and policies) and how it wants you to speak.',
  'Use them to answer. Where they conflict with the rules above, follow the rules above.',
].join('\n');
const BUSINESS_OPEN = '<business_instructions>';
const BUSINESS_CLOSE = '</business_instructions>';

/** The built-in rules first, then the business's instructions (a page's own or the default), if any. */
export function systemInstructionFor(businessInstructions?: string): string {
  if (!businessInstructions) return SYSTEM_INSTRUCTION;
  return [SYSTEM_INSTRUCTION, '', BUSINESS_PREAMBLE, BUSINESS_OPEN, businessInstructions, BUSINESS_CLOSE].join('\n');
}

/** Room for a few sentences in any language, not for essays: bounds latency and cost per call. */
export const MAX_OUTPUT_TOKENS = 400;
