// The console's entry point: the key, the page the URL names, and links between pages.

import { KEY_REFUSED, api, apiKey, forgetApiKey, setApiKey } from "./api.js";
import { field, fill, h } from "./dom.js";
import { clearErrors, errorArea, onSubmit } from "./forms.js";
import { navigate, onNavigate } from "./nav.js";
import * as batchPage from "./pages/batch.js";
import * as jobPage from "./pages/job.js";
import * as jobsPage from "./pages/jobs.js";
import * as providersPage from "./pages/providers.js";
import * as testPage from "./pages/test.js";
import * as webhookPage from "./pages/webhook.js";
import * as webhooksPage from "./pages/webhooks.js";

// [pattern, the navigation entry it belongs to, the page]
const ROUTES = [
  [/^\/ui\/?$/, "test", testPage],
  [/^\/ui\/batch\/?$/, "batch", batchPage],
  [/^\/ui\/jobs\/?$/, "jobs", jobsPage],
  [/^\/ui\/jobs\/([^/]+)\/?$/, "jobs", jobPage],
  [/^\/ui\/providers\/?$/, "providers", providersPage],
  [/^\/ui\/webhooks\/?$/, "webhooks", webhooksPage],
  [/^\/ui\/webhooks\/([^/]+)\/?$/, "webhooks", webhookPage],
];

const main = document.getElementById("main");
let shown = null; // the AbortController of the page on screen: its streams and polls stop with it

function markNavigation(section) {
  for (const anchor of document.querySelectorAll("nav a[data-page]")) {
    if (anchor.dataset.page === section) anchor.setAttribute("aria-current", "page");
    else anchor.removeAttribute("aria-current");
  }
}

function drawSession() {
  const session = document.getElementById("session");
  if (!apiKey()) {
    session.replaceChildren();
    return;
  }
  fill(session, h("span", {}, "API key set"),
    h("button", {
      type: "button",
      class: "button small",
      onclick: () => {
        forgetApiKey();
        show({ focus: true });
      },
    }, "Forget key"));
}

function keyPage(refusal) {
  document.title = "API key · mailprobe";
  const area = errorArea();
  const key = field({
    name: "apiKey",
    label: "API key",
    type: "password",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    hint: "It starts with mpk_. The command mailprobe dev prints one; mailprobe keys create makes one.",
  });
  const form = h("form", { novalidate: true, class: "card" },
    h("div", { class: "fields" }, h("div", { class: "wide" }, key.element)),
    area,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Use this key")));
  fill(main,
    h("h1", { tabindex: "-1" }, "Paste your API key"),
    h("p", { class: "lead" },
      "The key stays in this browser tab (sessionStorage) until the tab is closed. It is sent " +
      "only to this API, as an Authorization header, and never put in an address."),
    form);
  const showRefusal = (text) => {
    const error = key.element.querySelector(".field-error");
    error.textContent = text;
    error.hidden = false;
    key.control.setAttribute("aria-invalid", "true");
    key.control.focus();
  };
  if (refusal) showRefusal(refusal);
  onSubmit(form, async () => {
    clearErrors(form);
    const value = key.control.value.trim();
    if (!value) {
      showRefusal("Paste a key first.");
      return;
    }
    setApiKey(value);
    try {
      await api("GET", "/email/smtp/_test?limit=1");
    } catch (error) {
      // 401 has already brought this page back with the refusal (see KEY_REFUSED); a key
      // without smtp.read (403) may still run tests.
      if (error.status === 401) return;
      if (error.status !== 403) {
        area.textContent = error.readable;
        area.hidden = false;
      }
    }
    show({ focus: true });
  });
}

function notFound() {
  document.title = "Not found · mailprobe";
  fill(main, h("h1", { tabindex: "-1" }, "No such page"),
    h("p", {}, "This console has no page at this address. ", h("a", { href: "/ui" }, "Test a provider"), " instead?"));
}

async function show({ focus = false, refusal = null } = {}) {
  shown?.abort();
  const controller = new AbortController();
  shown = controller;
  const path = location.pathname;
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  markNavigation(route?.[1]);
  drawSession();
  if (!apiKey()) {
    keyPage(refusal);
  } else if (!route) {
    notFound();
  } else {
    const params = path.match(route[0]).slice(1).map(decodeURIComponent);
    main.replaceChildren();
    const rendering = route[2].render(main, {
      params,
      query: new URLSearchParams(location.search),
      signal: controller.signal,
    });
    rendering?.catch?.((error) => {
      if (controller.signal.aborted) return;
      main.append(h("div", { class: "form-error", role: "alert" }, error.readable ?? String(error)));
    });
  }
  if (focus) (main.querySelector("h1") ?? main).focus();
}

document.addEventListener("click", (event) => {
  const anchor = event.target.closest?.("a[href]");
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (anchor.target || anchor.hasAttribute("download")) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || !/^\/ui(\/|$)/.test(url.pathname) || url.pathname.startsWith("/ui/static/")) return;
  event.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
});
window.addEventListener("popstate", () => show({ focus: true }));
window.addEventListener(KEY_REFUSED, (event) => {
  forgetApiKey();
  show({ focus: true, refusal: event.detail.readable });
});
onNavigate(show);
show();
