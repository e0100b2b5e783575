// Starts GraphiQL (the UMD builds of react, react-dom and graphiql, loaded
// before this file from /graphiql/assets) against this server's /graphql.
// A caller adds `{"Authorization": "Bearer <token>"}` in the Headers tab.
const fetcher = GraphiQL.createFetcher({ url: `${window.location.origin}/graphql` });
const root = ReactDOM.createRoot(document.getElementById("graphiql"));
root.render(
  React.createElement(GraphiQL, {
    fetcher,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: true,
  }),
);
