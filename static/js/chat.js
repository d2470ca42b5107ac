/* Chat: ask, stream the answer over Server-Sent Events (fetch + ReadableStream, since
   EventSource cannot POST), follow an answer that is still being written after a reload or a
   dropped connection (EventSource, which reconnects by itself), stop, regenerate, edit the
   last question, copy, preview citations, search / rename / delete conversations, the
   sidebar on phones.

   No markup is built here. What shows before the server answers is cloned from <template>s
   in the page; everything else arrives in the events as HTML the server rendered with the
   page's own partials (answers sanitised there). Text typed here only ever goes in as text. */
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
  const counter = form.querySelector("[data-char-count]");
  const transcript = root.querySelector("[data-transcript]");
  const status = root.querySelector("[data-chat-status]");
  const title = root.querySelector("[data-chat-title]");
  const sidebar = root.querySelector("[data-sidebar]");
  const sidebarToggle = root.querySelector("[data-sidebar-toggle]");
  const actions = root.querySelector("[data-conversation-actions]");
  const preview = root.querySelector("[data-citation-preview]");
  const maxChars = parseInt(textarea.dataset.maxChars || "0", 10);

  /* The answer being written, if any: {view, controller, source, stopUrl, followUrl}. */
  let current = null;

  /* --- composer ------------------------------------------------------------------------- */

  function autosize() {
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, 192) + "px";
  }

  /* Shown from 80% of the limit, so it says something only when it matters. */
  function updateCounter() {
    if (!maxChars || !counter) {
      return;
    }
    const length = textarea.value.length;
    const near = length >= maxChars * 0.8;
    counter.hidden = !near;
    counter.textContent = near
      ? length.toLocaleString() + " / " + maxChars.toLocaleString() + " characters"
      : "";
    counter.classList.toggle("over", length >= maxChars);
  }

  textarea.addEventListener("input", function () {
    autosize();
    updateCounter();
  });

  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (current) {
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
    stop();
  });

  function showError(message) {
    errorBox.textContent = message;
  }

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
    form.setAttribute("aria-busy", busy ? "true" : "false");
    transcript.querySelectorAll("[data-regenerate], [data-edit-question]").forEach(function (b) {
      b.disabled = busy;
    });
    if (!busy && document.activeElement === stopButton) {
      textarea.focus();
    }
  }

  function announce(message) {
    status.textContent = message;
  }

  /* --- transcript ----------------------------------------------------------------------- */

  function scrollToBottom(force) {
    if (force || transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 160) {
      transcript.scrollTop = transcript.scrollHeight;
    }
  }

  function clone(name) {
    const template = root.querySelector("template[data-" + name + "-template]");
    return template.content.firstElementChild.cloneNode(true);
  }

  /* Only for HTML the server rendered from its templates (escaped, answers sanitised). */
  function fromServer(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function liveView(live) {
    const view = { live: live, article: live.querySelector("article") };
    ["rendered", "tail", "pending", "sources"].forEach(function (name) {
      view[name] = live.querySelector("[data-" + name + "]");
    });
    view.list = view.sources.querySelector("ol");
    return view;
  }

  function newLiveAnswer() {
    return liveView(clone("answer"));
  }

  function appendTurn(question) {
    const empty = transcript.querySelector("[data-empty-state]");
    if (empty) {
      empty.remove();
    }
    const bubble = clone("question");
    bubble.querySelector("[data-question-text]").textContent = question;
    const view = newLiveAnswer();
    view.question = bubble;
    transcript.append(bubble, view.live);
    return view;
  }

  function finish(view, html) {
    const fragment = fromServer(html);
    const article = fragment.firstElementChild;
    view.live.replaceWith(fragment);
    view.live = article;
  }

  function addNote(view, note) {
    if (view.pending) {
      view.pending.remove();
    }
    view.live.setAttribute("aria-busy", "false");
    view.article.appendChild(note);
  }

  function failedNote(message) {
    const note = clone("failed");
    note.querySelector("[data-answer-error]").append(message);
    return note;
  }

  /* --- conversations --------------------------------------------------------------------- */

  function conversationStarted(view, data) {
    if (data.question_html && view.question) {
      const fragment = fromServer(data.question_html);
      const node = fragment.firstElementChild;
      view.question.replaceWith(fragment);
      view.question = node;
    }
    if (data.stop_url) {
      current.stopUrl = data.stop_url;
      current.followUrl = data.follow_url;
    }
    const list = sidebar.querySelector("[data-conversation-list]");
    // One entry per conversation, whichever way it was opened: the asked one moves to the top.
    list.querySelectorAll('[data-conversation-id="' + data.conversation_id + '"]').forEach(
      function (link) {
        link.closest("li").remove();
      }
    );
    const empty = list.querySelector("[data-conversation-empty]");
    if (empty) {
      empty.remove();
    }
    list.querySelectorAll('[aria-current="page"]').forEach(function (link) {
      link.removeAttribute("aria-current");
    });
    list.prepend(fromServer(data.conversation_html));
    if (form.dataset.conversationId === String(data.conversation_id)) {
      return;
    }
    form.dataset.conversationId = String(data.conversation_id);
    form.action = data.ask_url;
    if (window.location.pathname !== data.conversation_url) {
      window.history.pushState({ conversation: data.conversation_id }, "", data.conversation_url);
    }
    setTitle(data.title);
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
    const item = sidebar.querySelector('[aria-current="page"]');
    if (item) {
      item.querySelector(".conversation-title").textContent = text;
    }
    const input = actions && actions.querySelector('input[name="title"]');
    if (input) {
      input.value = text;
    }
  }

  /* --- asking ---------------------------------------------------------------------------- */

  function ask(question) {
    showError("");
    const view = appendTurn(question);
    scrollToBottom(true);
    textarea.value = "";
    autosize();
    updateCounter();
    const body = new FormData();
    body.append("question", question);
    post(form.action, body, view, function (message) {
      view.live.remove();
      view.question.remove();
      textarea.value = question;
      autosize();
      showError(message);
    });
  }

  /* POST that answers with the event stream; `refused` undoes what was shown before. */
  async function post(url, body, view, refused) {
    const controller = new AbortController();
    current = { view: view, controller: controller, stopUrl: null, followUrl: null };
    const mine = current;
    setBusy(true);
    announce("Answering…");
    let ended = false;
    try {
      const response = await fetch(url, {
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
        refused(message);
        announce(message);
        done(mine);
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
          ended = handle(view, parseEvent(raw)) || ended;
        }
      }
      if (!ended) {
        reattach(mine, "The connection was lost before the answer finished. Ask again.");
        return;
      }
      done(mine);
    } catch (error) {
      if (error.name === "AbortError") {
        return; // stop() took over
      }
      if (!ended) {
        reattach(mine, "Docent can't be reached. Check your connection and ask again.");
        return;
      }
      done(mine);
    }
  }

  function done(mine) {
    if (current === mine) {
      current = null;
      setBusy(false);
      scrollToBottom(false);
    }
  }

  /* The server keeps writing the answer when a connection drops: read it from there. */
  function reattach(mine, otherwise) {
    if (mine.followUrl) {
      announce("Reconnecting to the answer…");
      follow(mine.view, mine.followUrl, mine.stopUrl);
      return;
    }
    addNote(mine.view, failedNote(otherwise));
    announce("The answer was interrupted.");
    done(mine);
  }

  /* Follow an answer being written (maybe by another server process) until it ends. */
  function follow(view, followUrl, stopUrl) {
    const source = new EventSource(followUrl);
    current = { view: view, source: source, stopUrl: stopUrl, followUrl: followUrl };
    const mine = current;
    setBusy(true);
    ["html", "citation", "done", "error", "stopped"].forEach(function (name) {
      source.addEventListener(name, function (event) {
        let data = {};
        try {
          data = JSON.parse(event.data);
        } catch (error) {
          data = {};
        }
        if (handle(view, { name: name, data: data })) {
          source.close();
          done(mine);
        }
      });
    });
    source.onerror = function () {
      // EventSource retries by itself; it gives up only when the server refuses.
      if (source.readyState === EventSource.CLOSED) {
        addNote(view, failedNote("Docent can't be reached. Reload the page to see the answer."));
        done(mine);
      }
    };
  }

  /* Stop is explicit: the server stores what was written as stopped, wherever it is written. */
  async function stop() {
    if (!current) {
      return;
    }
    const mine = current;
    stopButton.disabled = true;
    announce("Stopping…");
    if (mine.controller) {
      mine.controller.abort();
    }
    if (mine.source) {
      mine.source.close();
    }
    if (mine.stopUrl) {
      try {
        await window.Docent.postJSON(mine.stopUrl, new FormData());
      } catch (error) {
        /* the stored answer shows whatever happened */
      }
      stopButton.disabled = false;
      // The stored answer, once the writer has noticed, with its Retry button.
      follow(mine.view, mine.followUrl, null);
      return;
    }
    stopButton.disabled = false;
    const written = mine.view.rendered && mine.view.rendered.textContent.trim();
    addNote(mine.view, clone(written ? "stopped" : "stopped-empty"));
    announce("Stopped.");
    done(mine);
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
    try {
      return { name: name, data: JSON.parse(data.join("\n") || "{}") };
    } catch (error) {
      return { name: name, data: {} };
    }
  }

  /* Returns true when the answer is over. */
  function handle(view, event) {
    const data = event.data;
    switch (event.name) {
      case "start":
        conversationStarted(view, data);
        return false;
      case "delta":
        if (view.pending) {
          view.pending.remove();
        }
        view.tail.textContent += data.text || "";
        scrollToBottom(false);
        return false;
      case "html":
        if (view.pending) {
          view.pending.remove();
        }
        view.rendered.innerHTML = data.html;
        view.tail.textContent = "";
        scrollToBottom(false);
        return false;
      case "citation":
        if (data.source_html && !view.list.querySelector('[data-source="' + data.number + '"]')) {
          view.list.append(fromServer(data.source_html));
          view.sources.hidden = false;
        }
        return false;
      case "done":
        finish(view, data.message_html || data.html || "");
        setTitle(data.title);
        announce("Answer complete.");
        scrollToBottom(false);
        return true;
      case "stopped":
        finish(view, data.message_html || "");
        announce("Stopped.");
        return true;
      case "error":
        if (data.message_html) {
          finish(view, data.message_html);
        } else {
          addNote(view, fromServer(data.note_html || ""));
        }
        announce("The answer failed: " + (data.message || ""));
        return true;
      default:
        return false;
    }
  }

  /* Answers still being written when the page loads (a reload, another tab, back again). */
  transcript.querySelectorAll("[data-live-answer][data-follow-url]").forEach(function (live) {
    if (!current) {
      follow(liveView(live), live.dataset.followUrl, live.dataset.stopUrl);
    }
  });

  /* --- regenerate and edit ---------------------------------------------------------------- */

  transcript.addEventListener("click", function (event) {
    const regenerate = event.target.closest("[data-regenerate]");
    if (regenerate && !current) {
      const article = regenerate.closest("[data-answer]");
      const view = newLiveAnswer();
      article.replaceWith(view.live);
      showError("");
      post(article.dataset.regenerateUrl, new FormData(), view, function (message) {
        view.live.replaceWith(article);
        showError(message);
      });
      return;
    }
    const edit = event.target.closest("[data-edit-question]");
    if (edit && !current) {
      startEdit(edit.closest("[data-question-turn]"));
    }
  });

  function startEdit(turn) {
    const bubble = turn.querySelector("[data-question-text]");
    const editor = clone("edit");
    const field = editor.querySelector("textarea");
    field.value = bubble.innerText.trim();
    turn.hidden = true;
    turn.after(editor);
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
    function cancel() {
      editor.remove();
      turn.hidden = false;
      turn.querySelector("[data-edit-question]").focus();
    }
    editor.querySelector("[data-edit-cancel]").addEventListener("click", cancel);
    editor.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        cancel();
      } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        editor.requestSubmit();
      }
    });
    editor.addEventListener("submit", function (event) {
      event.preventDefault();
      const text = field.value.trim();
      if (!text) {
        field.focus();
        return;
      }
      // The old turn leaves the line (it stays reachable as an earlier version after a reload).
      const removed = [];
      let after = editor.nextElementSibling;
      while (after) {
        removed.push(after);
        after = after.nextElementSibling;
      }
      removed.forEach(function (node) {
        node.remove();
      });
      const bubbleClone = clone("question");
      bubbleClone.querySelector("[data-question-text]").textContent = text;
      const view = newLiveAnswer();
      view.question = bubbleClone;
      editor.replaceWith(bubbleClone, view.live);
      turn.remove();
      const body = new FormData();
      body.append("question", text);
      showError("");
      post(turn.dataset.editUrl, body, view, function (message) {
        view.live.remove();
        bubbleClone.replaceWith(turn);
        turn.hidden = false;
        removed.forEach(function (node) {
          transcript.append(node);
        });
        showError(message);
      });
    });
  }

  /* --- copy ------------------------------------------------------------------------------ */

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      return ok;
    }
  }

  transcript.addEventListener("click", async function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    let text = "";
    const article = button.closest("article");
    if (button.dataset.copy === "markdown") {
      text = article.querySelector("template[data-markdown]").content.textContent;
    } else if (button.dataset.copy === "text") {
      text = article.querySelector("[data-answer-body]").innerText;
    } else {
      const item = button.closest("[data-source]");
      const where = item.querySelector(".source-where");
      text =
        "“" +
        item.querySelector(".source-quote").textContent +
        "” (" +
        item.querySelector(".source-document").textContent +
        (where ? where.textContent : "") +
        ")";
    }
    const ok = await copyText(text.trim());
    const label = button.dataset.label || button.innerHTML;
    button.dataset.label = label;
    button.textContent = ok ? "Copied" : "Copy failed";
    announce(ok ? "Copied to the clipboard." : "Copying did not work in this browser.");
    window.setTimeout(function () {
      button.innerHTML = label; // restored from the server's own markup
    }, 1500);
  });

  /* --- citation preview ------------------------------------------------------------------ */

  let previewFor = null;

  function sourceFor(link) {
    const number = link.textContent.trim();
    const article = link.closest("article");
    return article && article.querySelector('[data-source="' + number + '"]');
  }

  function showPreview(link, withLink) {
    const source = sourceFor(link);
    if (!source) {
      return false;
    }
    preview.replaceChildren();
    const head = document.createElement("p");
    head.className = "preview-document";
    head.textContent =
      source.querySelector(".source-document").textContent +
      (source.querySelector(".source-where") ? source.querySelector(".source-where").textContent : "");
    preview.appendChild(head);
    const quote = source.querySelector(".source-quote");
    if (quote) {
      const q = document.createElement("q");
      q.textContent = quote.textContent;
      preview.appendChild(q);
    }
    if (withLink) {
      const open = document.createElement("a");
      open.href = link.href;
      open.textContent = "Open in the document";
      preview.appendChild(open);
    }
    preview.hidden = false;
    const box = link.getBoundingClientRect();
    const width = Math.min(360, window.innerWidth - 16);
    preview.style.width = width + "px";
    preview.style.left = Math.max(8, Math.min(box.left, window.innerWidth - width - 8)) + "px";
    const below = box.bottom + 8;
    preview.style.top = below + "px";
    if (below + preview.offsetHeight > window.innerHeight - 8) {
      preview.style.top = Math.max(8, box.top - preview.offsetHeight - 8) + "px";
    }
    link.setAttribute("aria-describedby", "citation-preview");
    previewFor = link;
    return true;
  }

  function hidePreview() {
    if (previewFor) {
      previewFor.removeAttribute("aria-describedby");
    }
    preview.hidden = true;
    previewFor = null;
  }

  /* A tap also fires mouseover before its click: on touch the click handler below decides. */
  let lastPointer = "mouse";
  function notePointer(event) {
    lastPointer = event.pointerType;
  }
  transcript.addEventListener("pointerover", notePointer);
  transcript.addEventListener("pointerdown", notePointer);
  transcript.addEventListener("mouseover", function (event) {
    const link = event.target.closest("a.cite");
    if (link && link !== previewFor && lastPointer !== "touch") {
      showPreview(link, false);
    }
  });
  transcript.addEventListener("mouseout", function (event) {
    const link = event.target.closest("a.cite");
    if (link && !link.contains(event.relatedTarget) && document.activeElement !== link) {
      hidePreview();
    }
  });
  transcript.addEventListener("focusin", function (event) {
    const link = event.target.closest("a.cite");
    if (link && lastPointer !== "touch") {
      showPreview(link, false);
    }
  });
  transcript.addEventListener("focusout", function (event) {
    // After a tap the preview's own link takes the focus; a tap elsewhere closes it instead.
    if (event.target.closest("a.cite") && lastPointer !== "touch") {
      hidePreview();
    }
  });
  /* A tap shows the preview (with a link to open the document); a second tap opens it. */
  transcript.addEventListener("click", function (event) {
    const link = event.target.closest("a.cite");
    if (!link || lastPointer !== "touch" || previewFor === link) {
      return;
    }
    if (showPreview(link, true)) {
      event.preventDefault();
    }
  });
  document.addEventListener("click", function (event) {
    if (previewFor && !event.target.closest("a.cite") && !preview.contains(event.target)) {
      hidePreview();
    }
  });
  document.addEventListener("keydown", function (event) {
    lastPointer = "keyboard";
    if (event.key === "Escape" && previewFor) {
      hidePreview();
    }
  });
  transcript.addEventListener("scroll", hidePreview);

  /* --- rename (header and sidebar items) -------------------------------------------------- */

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
        const shown = sidebar.querySelector('[aria-current="page"]');
        if (shown) {
          replaceItem(shown.closest("[data-conversation-item]"), data.item_html);
        }
        rename.open = false;
        title.focus();
        announce("Renamed to " + data.title + ".");
      } catch (error) {
        window.alert(error.message);
        input.focus();
      }
    });
  }

  /* The sidebar entry of a renamed conversation, as the server draws it (its Rename and
     Delete buttons name the new title); it stays marked as the page's own if it was. */
  function replaceItem(item, html) {
    const fresh = fromServer(html).querySelector("[data-conversation-item]");
    if (item.querySelector('a[aria-current="page"]')) {
      fresh.querySelector("a").setAttribute("aria-current", "page");
    }
    item.replaceWith(fresh);
    return fresh;
  }

  sidebar.addEventListener("click", function (event) {
    const button = event.target.closest("[data-item-rename]");
    if (!button) {
      return;
    }
    const item = button.closest("[data-conversation-item]");
    const link = item.querySelector("a");
    const itemTitle = item.querySelector("[data-item-title]");
    const editor = clone("rename-item");
    const input = editor.querySelector("input");
    input.value = itemTitle.textContent.trim();
    link.hidden = true;
    item.prepend(editor);
    input.focus();
    input.select();
    function close() {
      editor.remove();
      link.hidden = false;
      button.focus();
    }
    editor.addEventListener("keydown", function (keyEvent) {
      if (keyEvent.key === "Escape") {
        keyEvent.stopPropagation();
        close();
      }
    });
    editor.addEventListener("submit", async function (submitEvent) {
      submitEvent.preventDefault();
      const body = new FormData();
      body.append("title", input.value);
      try {
        const data = await window.Docent.postJSON(item.dataset.renameUrl, body);
        if (link.getAttribute("aria-current") === "page") {
          setTitle(data.title);
        }
        const fresh = replaceItem(item, data.item_html); // the editor goes with the old entry
        announce("Renamed to " + data.title + ".");
        fresh.querySelector("[data-item-rename]").focus();
      } catch (error) {
        announce(error.message);
        window.alert(error.message);
        input.focus();
      }
    });
  });

  /* --- conversation search ---------------------------------------------------------------- */

  const search = sidebar.querySelector("[data-conversation-search]");
  if (search) {
    const field = search.querySelector("input[name=q]");
    const list = sidebar.querySelector("[data-conversation-list]");
    const searchStatus = sidebar.querySelector("[data-search-status]");
    let timer = null;
    let asked = 0;
    async function run() {
      const mine = ++asked;
      const url = search.action + "?partial=list&q=" + encodeURIComponent(field.value.trim());
      try {
        const response = await fetch(url, { credentials: "same-origin" });
        if (!response.ok) {
          throw new Error(window.Docent.statusMessage(response.status));
        }
        const html = await response.text();
        if (mine !== asked) {
          return;
        }
        list.replaceChildren(fromServer(html));
        const found = list.querySelectorAll("[data-conversation-item]").length;
        const currentId = form.dataset.conversationId;
        if (currentId) {
          const link = list.querySelector('[data-conversation-id="' + currentId + '"]');
          if (link) {
            link.setAttribute("aria-current", "page");
          }
        }
        searchStatus.textContent = field.value.trim()
          ? found + (found === 1 ? " conversation matches." : " conversations match.")
          : "";
      } catch (error) {
        searchStatus.textContent = error.message;
      }
    }
    field.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(run, 250);
    });
    search.addEventListener("submit", function (event) {
      event.preventDefault();
      window.clearTimeout(timer);
      run();
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
        sidebar.querySelector("a").focus(); // "New conversation" is always there
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
  updateCounter();
  scrollToBottom(true);
})();
