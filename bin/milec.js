#!/usr/bin/env node
// Thin launcher: runs the TypeScript CLI through tsx so there is no build step.
import { register } from 'tsx/esm/api';
register();
await import('../cli/milec.ts');
