// `node --import ./bench/swc-register.mjs file.ts`: runs TypeScript compiled by SWC (swc-hooks.mjs).
import { register } from 'node:module';

register('./swc-hooks.mjs', import.meta.url);
