/* Light or dark: the system's choice unless the reader picked one with the header toggle
   (kept in localStorage). Loaded without defer so the page never flashes the other theme. */
"use strict";

(function () {
  const KEY = "docent-theme";
  const root = document.documentElement;

  function stored() {
    try {
      const value = window.localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (error) {
      return null;
    }
  }

  function systemDark() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function effective() {
    return stored() || (systemDark() ? "dark" : "light");
  }

  function sync() {
    const theme = stored();
    if (theme) {
      root.dataset.theme = theme;
    } else {
      delete root.dataset.theme;
    }
    const dark = effective() === "dark";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.setAttribute("aria-pressed", dark ? "true" : "false");
      button.title = dark ? "Switch to the light theme" : "Switch to the dark theme";
    });
  }

  sync();
  document.addEventListener("DOMContentLoaded", function () {
    sync();
    document.querySelectorAll("[data-theme-toggle]").forEach(function (button) {
      button.addEventListener("click", function () {
        const next = effective() === "dark" ? "light" : "dark";
        try {
          window.localStorage.setItem(KEY, next);
        } catch (error) {
          /* private mode: the choice lasts for this page only */
        }
        root.dataset.theme = next;
        sync();
        root.dataset.theme = next;
      });
    });
  });
})();
