/* Documents: drag-and-drop upload (one POST per file), live status by polling each
   unfinished document about once a second, retry without reloading.

   No markup is built here: rows come from the server (row_html), and a file still on its way
   up is a clone of the page's <template data-upload-row-template>. */
"use strict";

(function () {
  const rows = document.querySelector("[data-document-rows]");
  if (!rows) {
    return;
  }
  const form = document.querySelector("[data-upload-form]");
  const announcer = document.querySelector("[data-upload-status]");
  const POLL_MS = 1000;
  const polling = new Set();

  function announce(message) {
    if (announcer) {
      announcer.textContent = message;
    }
  }

  function rowFromHTML(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  /* --- live status ----------------------------------------------------------------------- */

  function watch(row) {
    if (row.dataset.final === "true" || polling.has(row.id)) {
      return;
    }
    polling.add(row.id);
    const url = row.dataset.statusUrl;
    let failures = 0;

    async function poll() {
      const current = document.getElementById(row.id);
      if (!current) {
        polling.delete(row.id);
        return;
      }
      try {
        const data = await window.Docent.getJSON(url);
        failures = 0;
        if (data.final) {
          const fresh = rowFromHTML(data.row_html);
          const hadFocus = current.contains(document.activeElement);
          current.replaceWith(fresh);
          polling.delete(row.id);
          recount();
          announce(data.filename + (data.status === "ready" ? " is ready." : " failed: " + data.error));
          if (hadFocus) {
            const target = fresh.querySelector("a, button");
            if (target) {
              target.focus();
            }
          }
          return;
        }
        update(current, data);
        recount();
      } catch (error) {
        failures += 1;
        if (error.status === 404) {
          current.remove();
          polling.delete(row.id);
          return;
        }
        if (failures >= 5) {
          setSummary(current, "Status unavailable; reload the page to check again.");
        }
      }
      window.setTimeout(poll, failures ? POLL_MS * Math.min(failures + 1, 10) : POLL_MS);
    }
    window.setTimeout(poll, POLL_MS);
  }

  /* The counts under the heading follow the rows (when every document is on this page). */
  const readiness = document.querySelector("[data-readiness]");

  function recount() {
    if (!readiness) {
      return;
    }
    const count = function (selector) {
      return rows.querySelectorAll("tr[data-document-row] " + selector).length;
    };
    const ready = count(".badge-ready");
    const busy = count(".badge-queued, .badge-processing");
    const failed = count(".badge-failed");
    let text = "No documents yet";
    if (ready + busy + failed) {
      text = ready + (ready === 1 ? " document ready" : " documents ready");
      if (busy) {
        text += ", " + busy + " processing";
      }
      if (failed) {
        text += ", " + failed + " failed";
      }
    }
    readiness.querySelector("[data-readiness-text]").textContent = text;
    readiness.querySelector(".dot").className =
      "dot " + (busy ? "dot-busy" : ready ? "dot-ok" : "dot-idle");
  }

  function update(row, data) {
    row.className = "document-row status-" + data.status;
    const badge = row.querySelector("[data-badge]");
    if (badge) {
      badge.textContent = data.status_label;
      badge.className = "badge badge-" + data.status;
    }
    setSummary(row, data.summary);
    const progress = row.querySelector("[data-progress]");
    if (progress) {
      progress.value = data.progress;
      progress.textContent = data.progress + "%";
    }
  }

  function setSummary(row, text) {
    const summary = row.querySelector("[data-summary]");
    if (summary) {
      summary.textContent = text;
    }
  }

  rows.querySelectorAll("[data-document-row]").forEach(watch);

  /* --- retry ----------------------------------------------------------------------------- */

  rows.addEventListener("submit", async function (event) {
    const retry = event.target.closest("[data-retry]");
    if (!retry) {
      return;
    }
    event.preventDefault();
    const row = retry.closest("[data-document-row]");
    try {
      const data = await window.Docent.postJSON(retry.action, new FormData(retry));
      const fresh = rowFromHTML(data.row_html);
      row.replaceWith(fresh);
      const focusable = fresh.querySelector("a, button");
      if (focusable) {
        focusable.focus();
      }
      announce(data.filename + " is queued again.");
      watch(fresh);
      recount();
    } catch (error) {
      window.alert(error.message);
    }
  });

  /* --- upload ---------------------------------------------------------------------------- */

  if (!form) {
    return;
  }
  const dropzone = form.querySelector("[data-dropzone]");
  const input = form.querySelector("[data-file-input]");
  const maxBytes = Number(form.dataset.maxBytes || 0);
  const queue = [];
  let uploading = false;

  function pendingRow(file) {
    const template = document.querySelector("template[data-upload-row-template]");
    const row = template.content.firstElementChild.cloneNode(true);
    row.querySelector("[data-filename]").textContent = file.name;
    return row;
  }

  function failedRow(row, message) {
    row.className = "document-row status-failed";
    row.querySelectorAll("[data-uploading]").forEach(function (element) {
      element.hidden = true;
    });
    row.querySelectorAll("[data-refused]").forEach(function (element) {
      element.hidden = false;
    });
    row.querySelector("[data-upload-error]").textContent = message;
    row.querySelector("[data-dismiss]").addEventListener("click", function () {
      row.remove();
      input.focus();
    });
  }

  function enqueue(files) {
    const empty = document.querySelector("[data-no-documents]");
    if (empty) {
      empty.remove();
    }
    Array.from(files).forEach(function (file) {
      const row = pendingRow(file);
      rows.prepend(row);
      if (maxBytes && file.size > maxBytes) {
        failedRow(row, file.name + " is larger than the " + Math.floor(maxBytes / 1048576) + " MB limit.");
        return;
      }
      if (file.size === 0) {
        failedRow(row, file.name + " is empty (0 bytes); nothing to index.");
        return;
      }
      queue.push({ file: file, row: row });
    });
    announce(files.length === 1 ? "Uploading " + files[0].name + "." : "Uploading " + files.length + " files.");
    next();
  }

  async function next() {
    if (uploading || !queue.length) {
      return;
    }
    uploading = true;
    const item = queue.shift();
    const body = new FormData();
    body.append("file", item.file, item.file.name);
    try {
      const data = await window.Docent.postJSON(form.action, body);
      const fresh = rowFromHTML(data.row_html);
      if (data.duplicate) {
        const existing = document.getElementById(fresh.id);
        if (existing) {
          existing.remove();
        }
        const note = item.row.querySelector("[data-upload-note]");
        note.textContent = data.message;
        note.hidden = false;
        fresh.querySelector(".doc-name").appendChild(note);
      }
      item.row.replaceWith(fresh);
      watch(fresh);
      recount();
      announce(data.duplicate ? data.message : data.filename + " is uploaded and queued.");
    } catch (error) {
      failedRow(item.row, error.message);
      announce(item.file.name + " was not uploaded: " + error.message);
    } finally {
      uploading = false;
      next();
    }
  }

  input.addEventListener("change", function () {
    if (input.files.length) {
      enqueue(input.files);
      input.value = "";
    }
  });

  ["dragenter", "dragover"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
  });
  ["dragleave", "dragend", "drop"].forEach(function (type) {
    dropzone.addEventListener(type, function (event) {
      event.preventDefault();
      if (type !== "dragleave" || !dropzone.contains(event.relatedTarget)) {
        dropzone.classList.remove("dragging");
      }
    });
  });
  dropzone.addEventListener("drop", function (event) {
    const files = event.dataTransfer && event.dataTransfer.files;
    if (files && files.length) {
      enqueue(files);
    }
  });
  /* A file dropped next to the zone should not replace the page. */
  window.addEventListener("dragover", function (event) {
    event.preventDefault();
  });
  window.addEventListener("drop", function (event) {
    event.preventDefault();
  });
})();
