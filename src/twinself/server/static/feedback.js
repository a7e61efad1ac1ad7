// Under each answer: thumbs up / down (POST /api/feedback/rating) and "suggest a better
// answer" (POST /api/edit-message/suggestion, into the owner's review queue); `save` keeps what
// the visitor did in the tab's conversation.

import { postJson } from "./api.js";
import { el } from "./dom.js";

export function renderFeedback(item, turn, question, save) {
  const status = el("p", { class: "feedback-status", role: "status" });
  const thumbs = [
    ["up", "Helpful"],
    ["down", "Not helpful"],
  ].map(([value, label]) => {
    const button = el("button", {
      type: "button",
      class: `thumb ${value}`,
      "aria-pressed": String(turn.rating === value),
      text: label,
    });
    button.addEventListener("click", async () => {
      try {
        await postJson("api/feedback/rating", { request_id: turn.requestId, rating: value });
      } catch (problem) {
        status.textContent = problem.message;
        return;
      }
      turn.rating = value;
      save();
      for (const other of thumbs) {
        other.setAttribute("aria-pressed", String(other === button));
      }
      status.textContent = "Thanks for rating this answer.";
    });
    return button;
  });

  const formId = `suggest-${turn.requestId}`;
  const toggle = el("button", {
    type: "button",
    class: "suggest-toggle",
    "aria-expanded": "false",
    "aria-controls": formId,
    text: "Suggest a better answer",
  });
  const fieldId = `${formId}-text`;
  const field = el("textarea", { id: fieldId, rows: "3", required: "" });
  const form = el(
    "form",
    { id: formId, class: "suggest", hidden: "" },
    el("label", { for: fieldId, text: "Your better answer" }),
    field,
    el("button", { type: "submit", text: "Send suggestion" }),
  );
  toggle.addEventListener("click", () => {
    const open = form.hidden;
    form.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) field.focus();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const suggested = field.value.trim();
    if (!suggested) return;
    try {
      await postJson("api/edit-message/suggestion", {
        original_question: question,
        original_response: turn.content,
        suggested_response: suggested,
        request_id: turn.requestId,
      });
    } catch (problem) {
      status.textContent = problem.message;
      return;
    }
    form.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    toggle.disabled = true;
    turn.suggested = true;
    save();
    status.textContent = "Thanks: your suggestion goes to the owner for review.";
    toggle.focus();
  });
  if (turn.suggested) toggle.disabled = true;
  const actions = el("div", { class: "actions" }, ...thumbs, toggle);
  item.append(actions, form, status);
}
