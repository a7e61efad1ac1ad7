// The chat page: one conversation kept in this tab (sessionStorage) and sent as history; each
// answer streamed, with its sources, quality scores, thumbs and a "suggest a better answer".
// Text from the server or the visitor is only ever set as textContent, never as HTML.

import { ApiProblem, getJson, setKey, streamChat, takeKeyFromFragment } from "./api.js";
import { el } from "./dom.js";
import { renderFeedback } from "./feedback.js";

const STORE = "twinself.conversation";
const HISTORY_TURNS = 20; // the newest turns sent as history; the server caps it too
// Quality scores: the evaluator judges in the background; ask with backoff, then give up.
const POLL_FIRST_MS = 1000;
const POLL_MAX_MS = 5000;
const POLL_FOR_MS = 180000;

const $ = (id) => document.getElementById(id);
const ui = {
  title: $("title"),
  messages: $("messages"),
  intro: $("intro"),
  announcer: $("announcer"),
  alert: $("alert"),
  composer: $("composer"),
  input: $("message"),
  send: $("send"),
  keyForm: $("key-form"),
  keyInput: $("access-key"),
  newConversation: $("new-conversation"),
};
let botName = "the twin";
let busy = false;

// --- the conversation, kept in this tab --------------------------------------------------

function newSessionId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
    if (saved && /^[A-Za-z0-9_.:-]+$/.test(saved.sessionId) && Array.isArray(saved.turns)) {
      return saved;
    }
  } catch {
    // unreadable: start afresh
  }
  return { sessionId: newSessionId(), turns: [] };
}

let state = load();

function save() {
  sessionStorage.setItem(STORE, JSON.stringify(state));
}

function history() {
  return state.turns
    .filter((t) => t.content && (t.role === "user" || t.done))
    .slice(-HISTORY_TURNS)
    .map((t) => ({ role: t.role, content: t.content }));
}

// --- small DOM helpers --------------------------------------------------------------------

function showAlert(message) {
  ui.alert.textContent = message;
  ui.alert.hidden = !message;
}

function announce(message) {
  ui.announcer.textContent = "";
  // A new text node after clearing, so the same words are announced twice if said twice.
  window.setTimeout(() => {
    ui.announcer.textContent = message;
  }, 50);
}

function scrollToEnd() {
  ui.messages.lastElementChild?.scrollIntoView({ block: "end" });
}

// --- rendering ----------------------------------------------------------------------------

function renderUser(turn) {
  const item = el("li", { class: "msg user" }, el("p", { class: "who", text: "You" }));
  item.append(el("div", { class: "text", text: turn.content }));
  ui.messages.append(item);
  return item;
}

function renderSources(sources) {
  const list = el("ul", { class: "source-list" });
  for (const source of sources) {
    const place = [source.source, source.heading].filter(Boolean).join(" › ");
    const summary = el("summary", {}, el("span", { class: "tag", text: source.memory }), place);
    const body = el("p", { text: source.text });
    list.append(el("li", {}, el("details", { class: "source" }, summary, body)));
  }
  const summary = el("summary", { text: `Sources (${sources.length})` });
  return el("details", { class: "sources" }, summary, list);
}

function describeScores(evaluation) {
  const names = { answer_relevancy: "Relevancy", faithfulness: "Faithfulness" };
  return Object.entries(names)
    .map(([key, label]) => {
      const metric = evaluation.scores[key];
      const verdict = metric.passed ? "pass" : "below";
      return `${label} ${metric.score.toFixed(2)} (${verdict}, threshold ${metric.threshold})`;
    })
    .join(" · ");
}

function renderQuality(node, turn) {
  const evaluation = turn.evaluation;
  node.hidden = false;
  node.classList.remove("failed", "passed");
  if (evaluation?.scores) {
    const { answer_relevancy: relevancy, faithfulness } = evaluation.scores;
    const passed = relevancy.passed && faithfulness.passed;
    node.classList.add(passed ? "passed" : "failed");
    node.textContent = `Quality: ${describeScores(evaluation)}`;
  } else if (evaluation?.status === "dead") {
    node.textContent = "Quality: the check failed; the owner can retry it.";
  } else if (turn.qualityGaveUp) {
    node.textContent = "Quality: not scored yet. Come back later.";
  } else if (turn.qualityPending) {
    node.textContent = "Quality: being checked…";
  } else {
    node.hidden = true;
  }
}

function renderTwin(turn) {
  const item = el("li", { class: "msg twin" }, el("p", { class: "who", text: botName }));
  const text = el("div", { class: "text answer", text: turn.content });
  const extras = el("div", { class: "extras" });
  const quality = el("p", { class: "quality", hidden: "" });
  item.append(text, extras, quality);
  ui.messages.append(item);
  return { item, text, extras, quality };
}

function finishTwin(view, turn, question) {
  view.item.removeAttribute("aria-busy");
  if (turn.sources?.length) view.extras.append(renderSources(turn.sources));
  if (turn.error) view.extras.append(el("p", { class: "error", text: turn.error }));
  if (turn.requestId && !turn.error) renderFeedback(view.item, turn, question, save);
  view.item.append(view.quality); // after the actions: scores arrive last
  renderQuality(view.quality, turn);
}

function renderAll() {
  ui.messages.replaceChildren();
  let question = "";
  for (const turn of state.turns) {
    if (turn.role === "user") {
      question = turn.content;
      renderUser(turn);
    } else {
      const view = renderTwin(turn);
      finishTwin(view, turn, question);
      if (turn.qualityPending && !turn.qualityGaveUp) pollQuality(turn, view.quality);
    }
  }
  ui.intro.hidden = state.turns.length > 0;
}

// --- quality scores -----------------------------------------------------------------------

async function pollQuality(turn, node) {
  const started = Date.now();
  let delay = POLL_FIRST_MS;
  while (Date.now() - started < POLL_FOR_MS) {
    await new Promise((resolve) => window.setTimeout(resolve, delay));
    delay = Math.min(POLL_MAX_MS, delay * 1.5);
    if (!state.turns.includes(turn)) return; // a new conversation started
    let run;
    try {
      run = await getJson(`runs/${encodeURIComponent(turn.requestId)}`);
    } catch (problem) {
      if (problem.kind === "network" || problem.kind === "rate-limited") continue;
      break;
    }
    const evaluation = run.evaluation;
    if (!evaluation) break; // not sampled after all
    if (evaluation.scores || evaluation.status === "dead") {
      turn.evaluation = evaluation;
      turn.qualityPending = false;
      save();
      renderQuality(node, turn);
      return;
    }
  }
  turn.qualityGaveUp = true;
  save();
  renderQuality(node, turn);
}

// --- sending ------------------------------------------------------------------------------

function setBusy(value) {
  busy = value;
  ui.send.disabled = value;
  ui.composer.setAttribute("aria-busy", String(value));
}

async function send(message) {
  showAlert("");
  const conversation = history();
  const userTurn = { role: "user", content: message };
  const twinTurn = { role: "assistant", content: "", done: false };
  const userItem = renderUser(userTurn);
  const view = renderTwin(twinTurn);
  view.item.setAttribute("aria-busy", "true");
  ui.intro.hidden = true;
  scrollToEnd();
  setBusy(true);
  try {
    const metadata = await streamChat(
      { session_id: state.sessionId, message, conversation },
      (chunk) => {
        twinTurn.content += chunk;
        view.text.textContent = twinTurn.content;
        scrollToEnd();
      },
    );
    Object.assign(twinTurn, {
      done: true,
      requestId: metadata.request_id,
      sources: metadata.sources,
      qualityPending: metadata.metrics.quality_evaluation === "evaluating_in_background",
    });
    announce(`${botName} answered: ${twinTurn.content}`);
  } catch (problem) {
    if (!twinTurn.content) {
      // Refused before any answer: as if never sent, the text back in the box to retry.
      userItem.remove();
      view.item.remove();
      ui.intro.hidden = state.turns.length > 0;
      ui.input.value = message;
      report(problem);
      return;
    }
    twinTurn.error = problem.message; // a partial answer stays, marked as cut short
    announce(problem.message);
  } finally {
    setBusy(false);
    if (ui.keyForm.hidden) ui.input.focus(); // focus back to the box, unless a key is asked
  }
  state.turns.push(userTurn, twinTurn);
  save();
  finishTwin(view, twinTurn, message);
  if (twinTurn.qualityPending) pollQuality(twinTurn, view.quality);
}

function report(problem) {
  const message = problem instanceof ApiProblem ? problem.message : "Something went wrong.";
  showAlert(message);
  if (problem.kind === "key") {
    ui.keyForm.hidden = false;
    ui.keyInput.focus();
  }
}

// --- wiring -------------------------------------------------------------------------------

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  const message = ui.input.value.trim();
  if (!message || busy) return;
  ui.input.value = "";
  send(message);
});

ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  setKey(ui.keyInput.value);
  ui.keyInput.value = "";
  ui.keyForm.hidden = true;
  showAlert("Key saved for this tab. Send your message again.");
  ui.input.focus();
});

ui.newConversation.addEventListener("click", () => {
  state = { sessionId: newSessionId(), turns: [] };
  save();
  renderAll();
  showAlert("");
  ui.input.focus();
});

async function start() {
  const params = new URLSearchParams(window.location.search);
  if (params.get("embed") === "1") document.body.classList.add("embed");
  takeKeyFromFragment();
  try {
    const about = await getJson("./");
    botName = about.bot_name || botName;
    ui.title.textContent = `Chat with ${botName}`;
    document.title = `Chat with ${botName}`;
  } catch {
    // the name is a nicety; sending reports what is wrong
  }
  renderAll();
  ui.send.disabled = false; // off in the HTML until this script is listening
  document.body.dataset.ready = "true";
}

start();
