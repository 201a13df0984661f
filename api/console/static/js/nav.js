// Moving between the console's pages without reloading: the URL changes (so every page has
// a stable address), main.js draws the page it names.

let draw = () => {};

/** main.js registers how a page is drawn. */
export function onNavigate(handler) {
  draw = handler;
}

/** Go to a console path, e.g. "/ui/jobs/01J…" (never a URL with a secret in it). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  draw({ focus: true });
}
