/* The admin's document list: the rows of documents still being processed are refreshed in
   place from the list's status view (documents/admin/documents.py, status_view), so the page
   is never reloaded and the boxes an admin ticked stay ticked. */
"use strict";

/* The admin loads its media in <head>: wait for the list. */
document.addEventListener("DOMContentLoaded", function () {
  const marker = document.querySelector("[data-document-status-url]");
  const table = document.getElementById("result_list");
  if (!marker || !table) {
    return;
  }
  const url = marker.dataset.documentStatusUrl;
  const POLL_MS = 2000;
  let failures = 0;

  function rowsToWatch() {
    const rows = new Map();
    table.querySelectorAll("tbody tr").forEach(function (row) {
      const box = row.querySelector("input.action-select");
      const badge = row.querySelector("td.field-status_badge [data-final]");
      if (box && badge && badge.dataset.final === "false") {
        rows.set(box.value, row);
      }
    });
    return rows;
  }

  async function poll() {
    const rows = rowsToWatch();
    if (!rows.size) {
      return;
    }
    try {
      const response = await fetch(url + "?ids=" + Array.from(rows.keys()).join(","), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      const data = await response.json();
      failures = 0;
      data.rows.forEach(function (item) {
        const row = rows.get(String(item.id));
        if (!row) {
          return;
        }
        Object.keys(item.cells).forEach(function (column) {
          const cell = row.querySelector("td.field-" + column + ", th.field-" + column);
          if (cell && cell.innerHTML !== item.cells[column]) {
            // Server-rendered and escaped there (format_html), like the rest of the list.
            cell.innerHTML = item.cells[column];
          }
        });
      });
    } catch (error) {
      failures += 1;
    }
    window.setTimeout(poll, POLL_MS * Math.min(failures + 1, 10));
  }

  window.setTimeout(poll, POLL_MS);
});
