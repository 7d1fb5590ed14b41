/** Encodes a position in the event listing as an opaque string, so clients do not build their own. */
export function encodeCursor(position: number): string {
  return Buffer.from(`e:${position}`).toString('base64url');
}

/** Decodes {@link encodeCursor}'s output; undefined when the text is not a cursor. */
export function decodeCursor(cursor: string): number | undefined {
  const match = /^e:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString());
  return match ? Number(match[1]) : undefined;
}
