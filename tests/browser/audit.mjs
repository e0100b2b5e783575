// The GraphQL over HTTP spec's own conformance audit (npm `graphql-http`,
// `auditServer`) against a running ledger server, with a bearer token on every
// request. tests/api/graphql_http.rs starts the server and runs this script.
//
// Environment: URL (the server's /graphql), TOKEN (a bearer token).
// Prints one line per audit (`ok`, `warn`, `error` or `notice`, its id and
// name, and the reason when it did not pass), then a JSON summary line
// `{"summary": {"MUST": [passed, total], "SHOULD": [...], "MAY": [...]}}`.
// Exits 0 whatever the results: the Rust test decides what must pass.
import { auditServer } from 'graphql-http';

const url = process.env.URL;
const token = process.env.TOKEN;
if (!url || !token) {
  console.error('audit.mjs: set URL and TOKEN');
  process.exit(2);
}

// Every request the audit sends carries the token, as a client of this
// server must (an anonymous caller is refused with 401).
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
const summary = {};
for (const r of results) {
  const level = r.name.split(' ')[0];
  summary[level] ??= [0, 0];
  summary[level][1] += 1;
  if (r.status === 'ok') summary[level][0] += 1;
  const reason = r.status === 'ok' ? '' : ` — ${r.reason}`;
  console.log(`${r.status} ${r.id} ${r.name}${reason}`);
}
console.log(JSON.stringify({ summary }));
