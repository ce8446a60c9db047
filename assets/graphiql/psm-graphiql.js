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
  var fetcher = GraphiQL.createFetcher({ url: new URL(config.endpoint, window.location.href).toString() });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      storage: storage,
      defaultQuery: config.exampleQuery,
      defaultHeaders: config.headers,
      // Headers (the key) are shown in the Headers tab but never written to the browser's storage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
    })
  );
})();
