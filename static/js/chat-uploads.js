/* Chat: add documents from the chat box (the paperclip, or files dragged onto the
   conversation), through the documents page's own endpoints: one POST per file to its upload
   URL, then its status URL about once a second until the file is ready or failed. The server
   refuses what no parser reads at once, with the reason.

   Readers get no paperclip; a file they drop is refused here with a sentence (the server
   would refuse it too). No markup is built here: an item is a clone of the page's
   <template data-chat-upload-template>, and only text goes into it. */
"use strict";

(function () {
  const root = document.querySelector("[data-chat]");
  if (!root) {
    return;
  }
  const chat = root.querySelector(".chat");
  const hint = root.querySelector("[data-drop-hint]");
  const errorBox = root.querySelector("[data-ask-error]");
  const status = root.querySelector("[data-chat-status]");
  const tray = root.querySelector("[data-chat-uploads]");
  const refusal = root.dataset.uploadRefusal || "";
  const POLL_MS = 1000;

  function announce(message) {
    if (status) {
      status.textContent = message;
    }
  }

  function hasFiles(event) {
    const types = event.dataTransfer && event.dataTransfer.types;
    return Boolean(types && Array.from(types).includes("Files"));
  }

  /* --- dragging onto the conversation ------------------------------------------------------ */

  let depth = 0;
  function showHint(shown) {
    if (hint) {
      hint.hidden = !shown;
    }
    chat.classList.toggle("dragging", shown);
  }
  chat.addEventListener("dragenter", function (event) {
    if (!hasFiles(event)) {
      return;
    }
    event.preventDefault();
    depth += 1;
    showHint(true);
  });
  chat.addEventListener("dragover", function (event) {
    if (hasFiles(event)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = tray ? "copy" : "none";
    }
  });
  chat.addEventListener("dragleave", function () {
    depth = Math.max(0, depth - 1);
    if (!depth) {
      showHint(false);
    }
  });
  chat.addEventListener("drop", function (event) {
    event.preventDefault();
    depth = 0;
    showHint(false);
    const files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) {
      return;
    }
    if (!tray) {
      errorBox.textContent = refusal;
      announce(refusal);
      return;
    }
    add(files);
  });
  /* A file dropped beside the conversation must not replace the page. */
  window.addEventListener("dragover", function (event) {
    event.preventDefault();
  });
  window.addEventListener("drop", function (event) {
    event.preventDefault();
  });

  if (!tray) {
    return;
  }

  /* --- the paperclip ----------------------------------------------------------------------- */

  const input = tray.querySelector("[data-chat-file-input]");
  const list = tray.querySelector("[data-chat-upload-list]");
  const template = tray.querySelector("template[data-chat-upload-template]");
  const uploadUrl = tray.dataset.uploadUrl;
  const maxBytes = Number(tray.dataset.maxBytes || 0);
  const attach = root.querySelector("[data-attach]");
  const queue = [];
  let uploading = false;

  attach.addEventListener("click", function () {
    input.click();
  });
  input.addEventListener("change", function () {
    if (input.files.length) {
      add(input.files);
      input.value = "";
    }
  });

  /* --- one item per file ------------------------------------------------------------------- */

  function newItem(file) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.querySelector("[data-filename]").textContent = file.name;
    item.querySelector("[data-progress]").setAttribute("aria-label", "Progress of " + file.name);
    item.querySelector("[data-dismiss]").addEventListener("click", function () {
      item.remove();
      tray.classList.toggle("has-items", list.children.length > 0);
      attach.focus();
    });
    list.appendChild(item);
    tray.classList.add("has-items");
    return item;
  }

  function show(item, data) {
    item.className = "chat-upload status-" + data.status;
    const badge = item.querySelector("[data-badge]");
    badge.textContent = data.status_label;
    badge.className = "badge badge-" + data.status;
    item.querySelector("[data-summary]").textContent = data.status === "failed" ? "" : data.summary;
    const progress = item.querySelector("[data-progress]");
    progress.value = data.progress;
    progress.hidden = Boolean(data.final);
    if (data.status === "failed") {
      failed(item, data.error, "Failed");
    } else if (data.final) {
      item.querySelector("[data-dismiss]").hidden = false;
    }
  }

  function failed(item, message, label) {
    item.className = "chat-upload status-failed";
    const badge = item.querySelector("[data-badge]");
    badge.textContent = label;
    badge.className = "badge badge-failed";
    item.querySelector("[data-summary]").textContent = "";
    item.querySelector("[data-progress]").hidden = true;
    const error = item.querySelector("[data-upload-error]");
    error.textContent = message;
    error.hidden = false;
    item.querySelector("[data-dismiss]").hidden = false;
  }

  function add(files) {
    errorBox.textContent = "";
    Array.from(files).forEach(function (file) {
      const item = newItem(file);
      if (maxBytes && file.size > maxBytes) {
        failed(item, file.name + " is larger than the " + Math.floor(maxBytes / 1048576) + " MB limit.", "Not added");
        return;
      }
      if (file.size === 0) {
        failed(item, file.name + " is empty (0 bytes); nothing to index.", "Not added");
        return;
      }
      queue.push({ file: file, item: item });
    });
    announce(files.length === 1 ? "Adding " + files[0].name + "." : "Adding " + files.length + " files.");
    next();
  }

  async function next() {
    if (uploading || !queue.length) {
      return;
    }
    uploading = true;
    const entry = queue.shift();
    const body = new FormData();
    body.append("file", entry.file, entry.file.name);
    try {
      const data = await window.Docent.postJSON(uploadUrl, body);
      show(entry.item, data);
      if (data.duplicate) {
        const note = entry.item.querySelector("[data-summary]");
        note.textContent = data.message;
        announce(data.message);
      } else {
        announce(data.filename + " is uploaded and queued.");
      }
      watch(entry.item, data);
    } catch (error) {
      failed(entry.item, error.message, "Not added");
      announce(entry.file.name + " was not added: " + error.message);
    } finally {
      uploading = false;
      next();
    }
  }

  function watch(item, data) {
    if (data.final) {
      return;
    }
    let failures = 0;
    async function poll() {
      if (!item.isConnected) {
        return;
      }
      try {
        const fresh = await window.Docent.getJSON(data.status_url);
        failures = 0;
        show(item, fresh);
        if (fresh.final) {
          const nothingYet = root.querySelector("[data-empty-state] .notice-box");
          if (nothingYet && fresh.status === "ready") {
            nothingYet.textContent = fresh.filename + " is ready: ask about it below.";
          }
          announce(
            fresh.status === "ready"
              ? fresh.filename + " is ready: you can ask about it now."
              : fresh.filename + " failed: " + fresh.error
          );
          return;
        }
      } catch (error) {
        failures += 1;
        if (error.status === 404) {
          failed(item, "This file was deleted meanwhile.", "Gone");
          return;
        }
        if (failures >= 5) {
          item.querySelector("[data-summary]").textContent = "Status unavailable; the Documents page shows it.";
        }
      }
      window.setTimeout(poll, failures ? POLL_MS * Math.min(failures + 1, 10) : POLL_MS);
    }
    window.setTimeout(poll, POLL_MS);
  }
})();
