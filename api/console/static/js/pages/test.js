// Test a provider: the form, then the job live (phases, verdict, TLS, transcript).

import { api } from "../api.js";
import { field, fill, h } from "../dom.js";
import { clearErrors, errorArea, onSubmit, showErrors } from "../forms.js";
import { JobView } from "../jobview.js";
import { smtpBody, smtpFields } from "../smtpform.js";

export function render(main, { signal }) {
  document.title = "Test a provider · mailprobe";
  const area = errorArea();
  const receiver = field({
    name: "receiverAddress",
    label: "Send the test message to",
    type: "email",
    required: true,
    autocomplete: "off",
    placeholder: "ops@acme.example",
    hint: "A short test message goes to this address.",
  });
  const dryRun = field({
    name: "dryRun",
    label: "Verify without sending (dry run)",
    type: "checkbox",
    wide: true,
    hint: "Stops after RCPT TO with RSET and QUIT: shows what the server answers to the recipient, sends nothing.",
  });
  const form = h("form", { novalidate: true, "aria-label": "SMTP test" },
    h("div", { class: "fields" }, smtpFields({ extra: [receiver.element] }), dryRun.element),
    area,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button" }, "Test")));
  const result = h("div", { class: "result" });
  fill(main,
    h("h1", { tabindex: "-1" }, "Test a provider"),
    h("p", { class: "lead" },
      "mailprobe connects to the server, walks through the whole SMTP conversation and sends " +
      "a short test message (or, in a dry run, stops before sending it). Each step appears " +
      "below as it ends."),
    h("section", { class: "card" }, form),
    result);

  let running = null;
  signal.addEventListener("abort", () => running?.abort());
  onSubmit(form, async () => {
    clearErrors(form);
    let job;
    try {
      const body = smtpBody(form, ["receiverAddress"]);
      if (dryRun.control.checked) body.dryRun = true;
      job = await api("POST", "/email/smtp/_test", { body, signal });
    } catch (error) {
      if (!signal.aborted) showErrors(form, error, area);
      return;
    }
    running?.abort();
    running = new AbortController();
    const view = new JobView();
    fill(result, view.element);
    view.follow(job, running.signal).catch(() => {});
  });
}
