// smtpx inbox: the pages' behaviour. A plain ES module, no framework, no build step,
// nothing loaded from another host. Every URL comes from the page's data-* attributes
// (smtpx.web._pages.Urls), so the inbox works under any path prefix.
//
// List page: select, mark read/unread, delete, delete all matching, through the
// JSON API; live updates from the server-sent events stream: on the first page
// the rows are fetched again (the server renders them, and knows the search
// language), on an older page a "new messages" link appears.
// Message page: tabs, "load remote images", mark unread, delete, release.

const body = document.body;
const REFRESH_DELAY_MS = 250; // a burst of new messages costs one refresh

function status(text) {
  const element = document.querySelector("[data-status]");
  if (element) element.textContent = text;
}

async function api(url, method, payload) {
  const options = { method, headers: { Accept: "application/json" } };
  if (payload !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(payload);
  }
  const response = await fetch(url, options);
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).error || detail;
    } catch {
      // not JSON: keep the status text
    }
    throw new Error(`${response.status} ${detail}`);
  }
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : null;
}

function localTimes(root) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(moment.getTime())) {
      time.title = time.textContent;
      time.textContent = moment.toLocaleString(undefined, {
        dateStyle: "medium",
        timeStyle: "short",
      });
    }
  }
}

// The list page

function setUpList(list) {
  const inbox = list.dataset.inbox; // undefined: every inbox; "": the default one
  const rows = () => list.querySelector("[data-rows]");
  const selected = () =>
    [...list.querySelectorAll('input[name="id"]:checked')].map((box) => box.value);
  const selectAll = list.querySelector("[data-select-all]");

  selectAll.addEventListener("change", () => {
    for (const box of list.querySelectorAll('input[name="id"]')) box.checked = selectAll.checked;
  });

  async function refresh() {
    const keep = new Set(selected());
    const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector("[data-rows]");
    if (!fresh) return;
    for (const box of fresh.querySelectorAll('input[name="id"]')) box.checked = keep.has(box.value);
    localTimes(fresh);
    rows().replaceWith(document.adoptNode(fresh));
    const count = page.querySelector("[data-count]");
    if (count) list.querySelector("[data-count]").textContent = count.textContent;
    selectAll.checked = false;
  }

  async function act(action) {
    const ids = selected();
    try {
      if (action === "delete-matching") {
        const query = list.dataset.query;
        const what = query ? `every message matching "${query}"` : "every message";
        const where = inbox === undefined ? "" : " in this inbox";
        if (!window.confirm(`Delete ${what}${where}?`)) return;
        const parameters = new URLSearchParams();
        if (query) parameters.set("query", query);
        if (inbox !== undefined) parameters.set("inbox", inbox);
        const suffix = parameters.toString() ? `?${parameters}` : "";
        await api(`${list.dataset.deleteMatching}${suffix}`, "DELETE");
      } else if (ids.length === 0) {
        status("Select messages first.");
        return;
      } else if (action === "delete") {
        await Promise.all(
          ids.map((id) => api(`${body.dataset.api}/${encodeURIComponent(id)}`, "DELETE")),
        );
      } else {
        await api(list.dataset.seen, "POST", { ids, seen: action === "read" });
      }
      status("");
      await refresh();
    } catch (error) {
      status(`Failed: ${error.message}`);
    }
  }

  for (const button of list.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }

  // Live: new messages, from the server-sent events stream.
  let pending = null;
  function scheduleRefresh() {
    if (list.dataset.firstPage !== "true") {
      list.querySelector("[data-news]").hidden = false;
      return;
    }
    if (pending === null) {
      pending = window.setTimeout(() => {
        pending = null;
        refresh().catch(() => {});
      }, REFRESH_DELAY_MS);
    }
  }
  const events = new EventSource(
    inbox === undefined
      ? body.dataset.events
      : `${body.dataset.events}?inbox=${encodeURIComponent(inbox)}`,
  );
  let lost = false;
  events.addEventListener("message", (event) => {
    try {
      const summary = JSON.parse(event.data);
      if (inbox !== undefined && summary.inbox !== inbox) return;
    } catch {
      // an event without a summary: refresh anyway
    }
    scheduleRefresh();
  });
  // The server fell behind this page and dropped some ids: the list is all it can trust.
  events.addEventListener("reset", scheduleRefresh);
  // After a dropped connection the browser reconnects; what came meanwhile was missed.
  events.addEventListener("error", () => {
    lost = true;
  });
  events.addEventListener("open", () => {
    if (lost) scheduleRefresh();
    lost = false;
  });
}

// The message page

function setUpMessage(article) {
  const tabs = article.querySelector("[data-tabs]");
  const sections = [...article.querySelectorAll("section.tab")];
  function show(name) {
    const target = sections.find((section) => section.id === name) || sections[0];
    for (const section of sections) section.hidden = section !== target;
    for (const link of tabs.querySelectorAll("a")) {
      link.classList.toggle("current", link.getAttribute("href") === `#${target.id}`);
    }
  }
  article.classList.add("tabbed");
  tabs.addEventListener("click", (event) => {
    const link = event.target.closest("a");
    if (!link) return;
    event.preventDefault();
    const name = link.getAttribute("href").slice(1);
    window.history.replaceState(null, "", `#${name}`);
    show(name);
  });
  show(window.location.hash.slice(1));

  const loadRemote = article.querySelector("[data-load-remote]");
  if (loadRemote) {
    loadRemote.addEventListener("click", (event) => {
      event.preventDefault();
      article.querySelector("[data-body-frame]").src = loadRemote.dataset.src;
      loadRemote.closest("p").hidden = true;
    });
  }

  const id = article.dataset.message;
  if (article.dataset.unread === "true") {
    api(article.dataset.seen, "POST", { ids: [id], seen: true }).catch(() => {});
  }
  for (const button of article.querySelectorAll("[data-message-action]")) {
    button.addEventListener("click", async () => {
      try {
        if (button.dataset.messageAction === "delete") {
          await api(article.dataset.apiMessage, "DELETE");
          window.location.assign(article.dataset.back);
        } else {
          await api(article.dataset.seen, "POST", { ids: [id], seen: false });
          status("Marked unread.");
        }
      } catch (error) {
        status(`Failed: ${error.message}`);
      }
    });
  }

  const release = article.querySelector("[data-release]");
  if (release) {
    release.addEventListener("submit", async (event) => {
      event.preventDefault();
      const output = release.querySelector("[data-release-result]");
      const to = release.elements.to.value.split(/[\s,;]+/).filter(Boolean);
      output.textContent = "Sending…";
      try {
        const result = await api(release.action, "POST", { to });
        const refused = (result && result.refused) || [];
        output.textContent = refused.length
          ? `Refused: ${refused.map((r) => `${r.address} (${r.reply})`).join(", ")}`
          : `Sent to ${to.join(", ")}.`;
      } catch (error) {
        output.textContent = `Failed: ${error.message}`;
      }
    });
  }
}

// Every page

const inboxSelect = document.querySelector("[data-inbox-select]");
if (inboxSelect) inboxSelect.addEventListener("change", () => inboxSelect.form.submit());
localTimes(document);
const list = document.querySelector("[data-list]");
if (list) setUpList(list);
const article = document.querySelector("[data-message]");
if (article) setUpMessage(article);
