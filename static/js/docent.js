/* Docent: helpers shared by every page. No framework, no build step. */
"use strict";

window.Docent = (function () {
  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  /* POST a form (or FormData) and read a JSON answer; errors become plain sentences. */
  async function postJSON(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
    } catch (error) {
      throw new Error("Docent can't be reached. Check your connection and try again.");
    }
    return readJSON(response);
  }

  async function getJSON(url) {
    let response;
    try {
      response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (error) {
      throw new Error("Docent can't be reached. Check your connection and try again.");
    }
    return readJSON(response);
  }

  async function readJSON(response) {
    let data = null;
    if ((response.headers.get("Content-Type") || "").includes("application/json")) {
      data = await response.json();
    }
    if (!response.ok) {
      const error = new Error((data && data.error) || statusMessage(response.status));
      error.status = response.status;
      throw error;
    }
    return data || {};
  }

  function statusMessage(status) {
    if (status === 403) {
      return "You are not allowed to do that here, or the page has expired: reload it and try again.";
    }
    if (status === 404) {
      return "It isn't there any more (deleted, or no longer shared with you). Reload the page.";
    }
    if (status === 413) {
      return "The file is too large to upload.";
    }
    if (status === 429) {
      return "Too many requests right now. Try again in a minute.";
    }
    if (status >= 500) {
      return "Something went wrong on our side. Try again in a minute.";
    }
    return "That did not work. Reload the page and try again.";
  }

  /* Links with data-confirm lead to a confirmation page; with JavaScript a dialog asks
     instead and the POST goes straight to the same URL. */
  document.addEventListener("click", function (event) {
    const link = event.target.closest("a[data-confirm]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey) {
      return;
    }
    event.preventDefault();
    if (!window.confirm(link.dataset.confirm)) {
      link.focus();
      return;
    }
    const form = document.createElement("form");
    form.method = "post";
    form.action = link.href;
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    token.value = csrfToken();
    form.appendChild(token);
    document.body.appendChild(form);
    form.submit();
  });

  /* A read-only field with data-select-on-focus selects its text; a button with data-copy
     copies the value of the field it names (the Content-Security-Policy allows no inline
     handlers). */
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-copy]");
    if (!button) {
      return;
    }
    const field = document.getElementById(button.dataset.copy);
    if (field && navigator.clipboard) {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = "Copied";
      });
    }
  });

  return { csrfToken: csrfToken, postJSON: postJSON, getJSON: getJSON, statusMessage: statusMessage };
})();
