/* Chat: ask, stream the answer over Server-Sent Events (fetch + ReadableStream, since
   EventSource cannot POST), stop, rename, feedback, the sidebar on phones.

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
    controller?.abort();
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

  function appendTurn(question) {
    const empty = transcript.querySelector("[data-empty-state]");
    if (empty) {
      empty.remove();
    }
    const bubble = clone("question");
    bubble.querySelector("[data-question-text]").textContent = question;
    const live = clone("answer");
    transcript.append(bubble, live);
    const view = { question: bubble, live: live, article: live.querySelector("article") };
    ["rendered", "tail", "pending", "sources"].forEach(function (name) {
      view[name] = live.querySelector("[data-" + name + "]");
    });
    view.list = view.sources.querySelector("ol");
    return view;
  }

  function finish(view, html) {
    view.live.innerHTML = html;
    view.live.setAttribute("aria-busy", "false");
  }

  function addNote(view, note) {
    view.pending.remove();
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
    if (data.question_html) {
      view.question.replaceWith(fromServer(data.question_html));
    }
    if (form.dataset.conversationId === String(data.conversation_id)) {
      return;
    }
    form.dataset.conversationId = String(data.conversation_id);
    form.action = data.ask_url;
    if (window.location.pathname !== data.conversation_url) {
      window.history.pushState({ conversation: data.conversation_id }, "", data.conversation_url);
    }
    const list = sidebar.querySelector("[data-conversation-list]");
    const empty = list.querySelector("[data-conversation-empty]");
    if (empty) {
      empty.remove();
    }
    list.querySelectorAll('[aria-current="page"]').forEach(function (link) {
      link.removeAttribute("aria-current");
    });
    list.prepend(fromServer(data.conversation_html));
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
    const view = appendTurn(question);
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
        view.question.remove();
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
          ended = handle(view, parseEvent(raw)) || ended;
        }
      }
      if (!ended) {
        addNote(view, failedNote("The connection was lost before the answer finished. Ask again."));
        announce("The answer was interrupted.");
      }
    } catch (error) {
      if (error.name === "AbortError") {
        addNote(view, clone("stopped"));
        announce("Stopped.");
      } else if (!ended) {
        addNote(view, failedNote("Docent can't be reached. Check your connection and ask again."));
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
        if (data.source_html) {
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
  scrollToBottom(true);
})();
