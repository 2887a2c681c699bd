/** Sealed tokens are bound to their page: a row's blob cannot be copied onto another page. */
export const pageTokenAad = (pageId: string) => `page-token:${pageId}`;
