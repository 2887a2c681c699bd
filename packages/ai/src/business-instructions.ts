/**
 * Where the business's instructions for one page (Page, Instagram account or WhatsApp number) come
 * from: its own, set by an operator, or else the deployment's default (AI_INSTRUCTIONS). The worker
 * wires a store-backed source; this package only reads through it.
 */
export interface BusinessInstructions {
  /** The text for that page, or undefined when it has none and there is no default. */
  forPage(pageId: string): Promise<string | undefined>;
}
