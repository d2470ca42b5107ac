/* Document viewer: bring the cited passage into view; "Back" returns to the answer. */
"use strict";

(function () {
  const passage = document.getElementById("passage");
  if (passage) {
    passage.scrollIntoView({ block: "center" });
    passage.focus({ preventScroll: true });
  }

  const back = document.querySelector("[data-back]");
  if (back && document.referrer) {
    try {
      const from = new URL(document.referrer);
      if (from.origin === window.location.origin && from.pathname.indexOf("/documents/") === -1) {
        back.addEventListener("click", function (event) {
          event.preventDefault();
          window.history.back();
        });
      }
    } catch (error) {
      /* an unusual referrer: keep the plain link */
    }
  }
})();
