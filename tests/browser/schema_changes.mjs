// Compares two GraphQL schemas (SDL files) with graphql-js's
// findBreakingChanges and findDangerousChanges, the checks
// @graphql-inspector/cli is built on. tests/api/schema_changes.rs runs it.
//
// Usage: node schema_changes.mjs OLD.graphql NEW.graphql
// Prints one JSON line: {"breaking": ["<description>", ...], "dangerous": [...]},
// each description as graphql-js words it ("Merchant.name was removed.").
// Exits 1 when a file does not parse as a schema.
import { readFileSync } from 'node:fs';
import { buildSchema, findBreakingChanges, findDangerousChanges } from 'graphql';

const [oldPath, newPath] = process.argv.slice(2);
if (!oldPath || !newPath) {
  console.error('usage: node schema_changes.mjs OLD.graphql NEW.graphql');
  process.exit(2);
}
let oldSchema;
let newSchema;
try {
  oldSchema = buildSchema(readFileSync(oldPath, 'utf8'));
  newSchema = buildSchema(readFileSync(newPath, 'utf8'));
} catch (e) {
  console.error(`schema_changes.mjs: ${e.message}`);
  process.exit(1);
}
const breaking = findBreakingChanges(oldSchema, newSchema).map((c) => c.description);
const dangerous = findDangerousChanges(oldSchema, newSchema).map((c) => c.description);
console.log(JSON.stringify({ breaking, dangerous }));
