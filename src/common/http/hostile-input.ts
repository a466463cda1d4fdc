import { BadRequestException } from '@nestjs/common';

/** Deeper than this, a request body is refused (ours are at most 1 level deep). */
export const MAX_DEPTH = 32;

// Keys that name Object.prototype members: class-transformer and Nest drop or skip them silently,
// so they would slip past the whitelist; refuse them instead.
const FORBIDDEN_KEYS = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

// NUL, and surrogates without their pair: PostgreSQL cannot store them in text or jsonb.
// eslint-disable-next-line no-control-regex -- NUL is exactly what this refuses
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const refuse = (message: string) => new BadRequestException({ code: 'VALIDATION_FAILED', message });

/**
 * Refuses (400 VALIDATION_FAILED) what a hostile client can put in parsed JSON or a query string
 * and the validators would not see: prototype-named keys, deep nesting, unstorable text. Walks
 * iteratively, so depth cannot overflow the stack.
 */
export function assertPlainInput(value: unknown): void {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node === 'string') {
      if (UNSTORABLE.test(node)) throw refuse('text must not contain NUL or unpaired surrogates');
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth >= MAX_DEPTH) throw refuse(`request is nested deeper than ${MAX_DEPTH} levels`);
    for (const [key, child] of Object.entries(node)) {
      if (FORBIDDEN_KEYS.has(key)) throw refuse(`property ${key} is not allowed`);
      if (UNSTORABLE.test(key)) throw refuse('keys must not contain NUL or unpaired surrogates');
      stack.push([child, depth + 1]);
    }
  }
}
