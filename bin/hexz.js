#!/usr/bin/env node
// The hexz command: runs the built CLI (npm run build writes dist/).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
