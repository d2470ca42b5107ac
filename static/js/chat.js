/* Chat: ask, stream the answer over Server-Sent Events (fetch + ReadableStream, since
   EventSource cannot POST), stop, rename, feedback, the sidebar on phones.

   Everything from the server that becomes markup (html, message_html) was rendered and
   sanitised there; anything else (questions, sources while streaming) goes in as text. */
"use strict";

(function () {
  const root = document.querySelector("[data-chat]");
  if (!root) {
    return;
  }
  const form = root.querySelector("[data-ask-form]");
  const textarea = form.querySelector("[data-question]");
  const sendButton = form.querySelector("[data-send]");
  const stopButton = form.querySelector("[data-stop]");
  const errorBox = form.querySelector("[data-ask-error]");
  const transcript = root.querySelector("[data-transcript]");
  const status = root.querySelector("[data-chat-status]");
  const title = root.querySelector("[data-chat-title]");
  const sidebar = root.querySelector("[data-sidebar]");
  const sidebarToggle = root.querySelector("[data-sidebar-toggle]");
  const actions = root.querySelector("[data-conversation-actions]");
  let controller = null;

  /* --- composer ------------------------------------------------------------------------- */

  function autosize() {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, 192) + "px";
  }
  textarea.addEventListener("input", autosize);

  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (controller) {
      return;
    }
    const question = textarea.value.trim();
    if (!question) {
      showError("Type a question first.");
      textarea.focus();
      return;
    }
    ask(question);
  });

  stopButton.addEventListener("click", function () {
    if (controller) {
      controller.abort();
    }
  });

  function showError(message) {
    errorBox.textContent = message;
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
    if (!busy && document.activeElement === stopButton) {
      textarea.focus();
    }
  }

  function announce(message) {
    status.textContent = message;
  }

  /* --- transcript ----------------------------------------------------------------------- */

  function nearBottom() {
    return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 160;
  }

  function scrollToBottom(force) {
    if (force || nearBottom()) {
      transcript.scrollTop = transcript.scrollHeight;
    }
  }

  function appendQuestion(question) {
    const empty = transcript.querySelector("[data-empty-state]");
    if (empty) {
      empty.remove();
    }
    const wrapper = document.createElement("div");
    wrapper.className = "turn-question";
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = question;
    wrapper.appendChild(bubble);
    transcript.appendChild(wrapper);
  }

  function appendAnswer() {
    const live = document.createElement("div");
    live.className = "live-answer";
    live.setAttribute("aria-live", "polite");
    live.setAttribute("aria-busy", "true");
    const article = document.createElement("article");
    article.className = "answer answer-streaming";
    const body = document.createElement("div");
    body.className = "answer-body prose";
    const rendered = document.createElement("div");
    const tail = document.createElement("span");
    tail.className = "stream-tail";
    const pending = document.createElement("p");
    pending.className = "answer-pending";
    pending.innerHTML = '<span class="typing" aria-hidden="true"><span></span><span></span><span></span></span>';
    pending.appendChild(document.createTextNode(" Searching the documents…"));
    body.append(rendered, tail, pending);
    const sources = document.createElement("section");
    sources.className = "sources";
    sources.hidden = true;
    const heading = document.createElement("h3");
    heading.textContent = "Sources";
    const list = document.createElement("ol");
    sources.append(heading, list);
    article.append(body, sources);
    live.appendChild(article);
    transcript.appendChild(live);
    return { live: live, article: article, rendered: rendered, tail: tail, pending: pending, sources: sources, list: list };
  }

  function addSource(view, citation) {
    const item = document.createElement("li");
    item.value = citation.number;
    const name = document.createElement("span");
    name.className = "source-document";
    name.textContent = citation.document || "Document";
    item.appendChild(name);
    if (citation.page) {
      item.appendChild(document.createTextNode(", page " + citation.page));
    }
    if (citation.quote) {
      const quote = document.createElement("q");
      quote.className = "source-quote";
      const text = citation.quote.replace(/\s+/g, " ").trim();
      quote.textContent = text.length > 280 ? text.slice(0, 279) + "…" : text;
      item.appendChild(quote);
    }
    view.list.appendChild(item);
    view.sources.hidden = false;
  }

  function finish(view, html) {
    view.live.innerHTML = html;
    view.live.setAttribute("aria-busy", "false");
  }

  function markStopped(view) {
    view.pending.remove();
    view.live.setAttribute("aria-busy", "false");
    const flag = document.createElement("p");
    flag.className = "answer-flag";
    flag.textContent = "Stopped before the end: this answer is incomplete. Ask again for a full one.";
    view.article.appendChild(flag);
  }

  function markFailed(view, message) {
    view.pending.remove();
    view.live.setAttribute("aria-busy", "false");
    const box = document.createElement("div");
    box.className = "answer-error";
    box.setAttribute("role", "alert");
    const text = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = "No answer this time.";
    text.append(strong, document.createTextNode(" " + message));
    box.appendChild(text);
    view.article.appendChild(box);
  }

  /* --- conversations --------------------------------------------------------------------- */

  function conversationStarted(data) {
    if (form.dataset.conversationId === String(data.conversation_id)) {
      return;
    }
    form.dataset.conversationId = String(data.conversation_id);
    form.action = data.ask_url;
    if (window.location.pathname !== data.conversation_url) {
      window.history.pushState({ conversation: data.conversation_id }, "", data.conversation_url);
    }
    setTitle(data.title);
    const list = sidebar.querySelector("[data-conversation-list]");
    const empty = list.querySelector("[data-conversation-empty]");
    if (empty) {
      empty.remove();
    }
    list.querySelectorAll('[aria-current="page"]').forEach(function (link) {
      link.removeAttribute("aria-current");
    });
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = data.conversation_url;
    link.dataset.conversationId = String(data.conversation_id);
    link.setAttribute("aria-current", "page");
    const name = document.createElement("span");
    name.className = "conversation-title";
    name.textContent = data.title;
    const when = document.createElement("span");
    when.className = "conversation-when";
    when.textContent = "Just now";
    link.append(name, when);
    item.appendChild(link);
    list.prepend(item);
    if (actions) {
      actions.hidden = false;
      actions.querySelector("[data-rename-form]").action = data.conversation_url + "rename";
      actions.querySelector("[data-delete-conversation]").href = data.conversation_url + "delete";
    }
  }

  function setTitle(text) {
    if (!text) {
      return;
    }
    title.textContent = text;
    document.title = text + " · " + document.title.split(" · ").slice(1).join(" · ");
    const current = sidebar.querySelector('[aria-current="page"] .conversation-title');
    if (current) {
      current.textContent = text;
    }
    const input = actions && actions.querySelector('input[name="title"]');
    if (input) {
      input.value = text;
    }
  }

  /* --- asking ---------------------------------------------------------------------------- */

  async function ask(question) {
    showError("");
    appendQuestion(question);
    const view = appendAnswer();
    scrollToBottom(true);
    textarea.value = "";
    autosize();
    controller = new AbortController();
    setBusy(true);
    announce("Answering…");
    const body = new FormData();
    body.append("question", question);
    let ended = false;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": window.Docent.csrfToken(), Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (!response.ok || !response.body) {
        let message = window.Docent.statusMessage(response.status);
        if ((response.headers.get("Content-Type") || "").includes("application/json")) {
          message = (await response.json()).error || message;
        }
        view.live.remove();
        transcript.lastElementChild.remove();
        textarea.value = question;
        autosize();
        showError(message);
        announce(message);
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) {
          break;
        }
        buffer += decoder.decode(chunk.value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (handle(view, parseEvent(raw))) {
            ended = true;
          }
        }
      }
      if (!ended) {
        markFailed(view, "The connection was lost before the answer finished. Ask again.");
        announce("The answer was interrupted.");
      }
    } catch (error) {
      if (error.name === "AbortError") {
        markStopped(view);
        announce("Stopped.");
      } else if (!ended) {
        markFailed(view, "Docent can't be reached. Check your connection and ask again.");
        announce("The answer failed.");
      }
    } finally {
      controller = null;
      setBusy(false);
      scrollToBottom(false);
    }
  }

  function parseEvent(raw) {
    let name = "message";
    const data = [];
    raw.split("\n").forEach(function (line) {
      if (line.startsWith("event:")) {
        name = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    });
    let payload = {};
    try {
      payload = JSON.parse(data.join("\n") || "{}");
    } catch (error) {
      payload = {};
    }
    return { name: name, data: payload };
  }

  /* Returns true when the answer is over. */
  function handle(view, event) {
    const data = event.data;
    switch (event.name) {
      case "start":
        conversationStarted(data);
        return false;
      case "delta":
        view.pending.remove();
        view.tail.textContent += data.text || "";
        scrollToBottom(false);
        return false;
      case "html":
        view.pending.remove();
        view.rendered.innerHTML = data.html;
        view.tail.textContent = "";
        scrollToBottom(false);
        return false;
      case "citation":
        addSource(view, data);
        return false;
      case "done":
        finish(view, data.message_html || data.html || "");
        setTitle(data.title);
        announce("Answer complete.");
        scrollToBottom(false);
        return true;
      case "error":
        if (data.message_html) {
          finish(view, data.message_html);
        } else {
          markFailed(view, data.message || "Something went wrong. Ask again.");
        }
        announce("The answer failed: " + (data.message || ""));
        return true;
      default:
        return false;
    }
  }

  /* --- rename ---------------------------------------------------------------------------- */

  const rename = root.querySelector("[data-rename]");
  if (rename) {
    const renameForm = rename.querySelector("[data-rename-form]");
    const input = renameForm.querySelector("input[name=title]");
    rename.addEventListener("toggle", function () {
      if (rename.open) {
        input.value = title.textContent.trim();
        input.focus();
        input.select();
      }
    });
    rename.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        rename.open = false;
        rename.querySelector("summary").focus();
      }
    });
    renameForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      try {
        const data = await window.Docent.postJSON(renameForm.action, new FormData(renameForm));
        setTitle(data.title);
        rename.open = false;
        title.focus();
        announce("Renamed to " + data.title + ".");
      } catch (error) {
        window.alert(error.message);
        input.focus();
      }
    });
  }

  /* --- feedback -------------------------------------------------------------------------- */

  transcript.addEventListener("submit", async function (event) {
    const feedback = event.target.closest("[data-feedback]");
    if (!feedback) {
      return;
    }
    event.preventDefault();
    const button = event.submitter;
    const body = new FormData(feedback);
    if (button && button.name) {
      body.set(button.name, button.value);
    }
    const statusLine = feedback.querySelector("[data-feedback-status]");
    try {
      const data = await window.Docent.postJSON(feedback.action, body);
      feedback.querySelectorAll(".thumb").forEach(function (thumb) {
        thumb.setAttribute("aria-pressed", thumb.value === data.rating ? "true" : "false");
      });
      feedback.querySelector("[data-send-comment]").value = data.rating;
      statusLine.textContent = data.message;
      const more = feedback.querySelector(".feedback-more");
      if (button && button.classList.contains("thumb") && !data.comment) {
        more.open = true;
        more.querySelector("textarea").focus();
      }
    } catch (error) {
      statusLine.textContent = error.message;
    }
  });

  /* --- sidebar on phones ----------------------------------------------------------------- */

  if (sidebarToggle) {
    sidebarToggle.addEventListener("click", function () {
      const open = !sidebar.classList.contains("open");
      sidebar.classList.toggle("open", open);
      sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
      if (open) {
        const first = sidebar.querySelector("a");
        if (first) {
          first.focus();
        }
      }
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && sidebar.classList.contains("open")) {
        sidebar.classList.remove("open");
        sidebarToggle.setAttribute("aria-expanded", "false");
        sidebarToggle.focus();
      }
    });
  }

  window.addEventListener("popstate", function () {
    window.location.reload();
  });

  autosize();
  scrollToBottom(true);
})();
