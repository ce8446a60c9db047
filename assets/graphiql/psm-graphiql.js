// Starts GraphiQL on the page psm-api serves at /graphiql. The server puts the settings (role, key,
// example query) in the JSON element #psm-graphiql-config; nothing here is loaded from elsewhere.
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('psm-graphiql-config').textContent);
  var prefix = 'psm-graphiql:' + config.storageNamespace + ':';
  // One storage per role, so that tabs opened as one role never reappear under another.
  var storage = {
    getItem: function (key) { return window.localStorage.getItem(prefix + key); },
    setItem: function (key, value) { window.localStorage.setItem(prefix + key, value); },
    removeItem: function (key) { window.localStorage.removeItem(prefix + key); },
    clear: function () {
      Object.keys(window.localStorage)
        .filter(function (key) { return key.indexOf(prefix) === 0; })
        .forEach(function (key) { window.localStorage.removeItem(key); });
    },
    get length() {
      return Object.keys(window.localStorage).filter(function (key) { return key.indexOf(prefix) === 0; }).length;
    },
  };
  var send = GraphiQL.createFetcher({ url: new URL(config.endpoint, window.location.href).toString() });
  var initialHeaders = JSON.parse(config.headers);
  // GraphiQL 4 may fetch the schema before its Headers tab exists, and then sends no headers at all:
  // such a request gets the tab's initial headers. A request made with the tab (even an emptied one)
  // is sent exactly as the tab says.
  var fetcher = function (params, options) {
    if (!options || !options.headers) {
      options = Object.assign({}, options, { headers: initialHeaders });
    }
    return send(params, options);
  };
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: storage,
      defaultQuery: config.exampleQuery,
      // `headers` fills the Headers tab of the open tab before the schema is fetched, so that the
      // introspection query carries the key too; `defaultHeaders` fills every new tab.
      headers: config.headers,
      defaultHeaders: config.headers,
      // Headers (the key) are shown in the Headers tab but never written to the browser's storage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
    })
  );
})();
