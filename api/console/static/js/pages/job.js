// One job at its stable address, /ui/jobs/{id}: the same view as after a test.

import { fill, h } from "../dom.js";
import { JobView } from "../jobview.js";

export async function render(main, { params: [jobId], signal }) {
  document.title = `Job ${jobId} · mailprobe`;
  const view = new JobView();
  fill(main, h("h1", { tabindex: "-1" }, "Job"), h("p", { class: "job-meta mono" }, jobId), view.element);
  await view.load(jobId, signal);
}
