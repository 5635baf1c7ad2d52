// Beside each screenshot on the session page: its palette as colour swatches, and — while a screenshot is
// still being analysed — the findings and derived requirements, fetched again once the activity feed moves.
const LIST = "screenshot-list";

function paint(list) {
  for (const swatch of list.querySelectorAll(".swatch[data-colour]")) {
    if (/^#[0-9a-f]{3,8}$/i.test(swatch.dataset.colour)) swatch.style.setProperty("--swatch", swatch.dataset.colour);
  }
}

async function refresh() {
  const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById(LIST);
  const list = document.getElementById(LIST);
  if (fresh && list) {
    list.replaceWith(document.adoptNode(fresh));
    paint(fresh);
  }
}

const list = document.getElementById(LIST);
if (list) {
  paint(list);
  const feed = document.getElementById("feed");
  if (list.dataset.pending.trim() && feed) {
    let timer = null;
    const watcher = new MutationObserver(() => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        await refresh();
        if (!document.getElementById(LIST)?.dataset.pending.trim()) watcher.disconnect();
      }, 400);
    });
    watcher.observe(feed, { childList: true });
  }
}
