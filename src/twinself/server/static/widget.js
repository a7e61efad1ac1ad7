// The twin on the owner's own website, with one tag:
//   <script src="https://twin.example.org/ui/widget.js" data-key="CHAT_KEY" defer></script>
// It adds a button that opens the chat page (/ui/?embed=1) in a frame. The chat key is
// publishable (see the README); the owner's site must be in TWINSELF_CORS_ORIGINS to frame it.
// Styles are set through the CSSOM, which a host page's CSP without 'unsafe-inline' allows.
(() => {
  const script = document.currentScript;
  if (!script) return;
  const page = new URL("./", script.src);
  page.searchParams.set("embed", "1");
  if (script.dataset.key) page.hash = `key=${encodeURIComponent(script.dataset.key)}`;

  const button = document.createElement("button");
  button.type = "button";
  button.textContent = script.dataset.label || "Chat with my twin";
  button.setAttribute("aria-expanded", "false");
  Object.assign(button.style, {
    position: "fixed",
    right: "1rem",
    bottom: "1rem",
    zIndex: "2147483646",
    padding: "0.6rem 1rem",
    borderRadius: "1.5rem",
    border: "none",
    background: "#0b5cad",
    color: "#ffffff",
    font: "600 1rem system-ui, sans-serif",
    cursor: "pointer",
  });

  let frame = null;
  button.addEventListener("click", () => {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = button.textContent;
      frame.src = page.href;
      frame.id = "twinself-chat-frame";
      Object.assign(frame.style, {
        position: "fixed",
        right: "1rem",
        bottom: "4.5rem",
        width: "min(24rem, calc(100vw - 2rem))",
        height: "min(36rem, calc(100vh - 6rem))",
        border: "1px solid #d0d7de",
        borderRadius: "0.75rem",
        background: "#ffffff",
        zIndex: "2147483647",
      });
      button.setAttribute("aria-controls", frame.id);
      document.body.append(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    const open = !frame.hidden;
    button.setAttribute("aria-expanded", String(open));
    if (open) frame.focus();
  });
  const mount = () => document.body.append(button);
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
