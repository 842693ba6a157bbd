// Progressive enhancement only: every page works without this file. It is
// an ES module (the NHS design system's script is one), loaded after the
// page is parsed; the Content-Security-Policy allows no inline script.
import { ErrorSummary } from "/assets/vendor/nhsuk-frontend.min.js";

// nhsuk-frontend's components run only where the body says the browser
// supports them; its own snippet for this is inline script, so say it here.
document.body.classList.add("js-enabled", "nhsuk-frontend-supported");

// Error summaries: the NHS component focuses the summary when it appears
// (a whole page, or a form htmx swapped in) and makes its links scroll to
// the field's label or legend, not the field alone.
function initErrorSummaries() {
  document.querySelectorAll('[data-module="nhsuk-error-summary"]').forEach(function (el) {
    if (!el.hasAttribute("data-nhsuk-error-summary-init")) {
      new ErrorSummary(el);
    }
  });
}
initErrorSummaries();

// A form answered with its problems (a wrong code) is the answer to a
// POST. Its history entry becomes the form's page, as a GET, so Back to
// it, or a reload, opens that page again instead of the browser's
// "Confirm Form Resubmission" (which would send the refused answer again).
var answered = document.querySelector("[data-get-address]");
if (answered) {
  window.history.replaceState(window.history.state, "", answered.getAttribute("data-get-address"));
}

// What a page shows once (recovery codes, an authenticator key) must not
// come back with Back: Chromium keeps even no-store pages in its
// back-forward cache. Leaving, the page drops them; brought back, it asks
// the server again, which shows them no more.
if (document.querySelector("[data-shown-once]")) {
  window.addEventListener("pagehide", function (event) {
    if (event.persisted) {
      document.querySelectorAll("[data-shown-once]").forEach(function (el) {
        el.remove();
      });
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });
}

// The page's title starts with "Error: " when a form comes back with its
// problems (NHS service manual); htmx swaps the form, not the <title>.
function markTitle() {
  if (document.title.indexOf("Error: ") !== 0) {
    document.title = "Error: " + document.title;
  }
}

// The Password Policy's one live region: the box beside the form is
// replaced as the user types, and only its brief count ("3 of 5 rules
// met") is written here, when it changes.
function announcePolicy() {
  var box = document.getElementById("password-policy");
  var status = document.getElementById("password-policy-status");
  if (!box || !status) {
    return;
  }
  var summary = box.getAttribute("data-summary") || "";
  if (status.textContent !== summary) {
    status.textContent = summary;
  }
}

// A search's result count, copied into the status region that stays on
// the page (the count itself is swapped with the results).
function announceResults() {
  document.querySelectorAll("[data-results-status]").forEach(function (status) {
    var source = document.getElementById(status.getAttribute("data-results-status"));
    var text = source ? source.textContent.replace(/\s+/g, " ").trim() : "";
    if (status.textContent !== text) {
      status.textContent = text;
    }
  });
}

document.addEventListener("htmx:afterSettle", function (event) {
  var detail = event.detail;
  var sender = detail.requestConfig && detail.requestConfig.elt;
  if (detail.xhr && detail.xhr.status === 422 && sender && sender.tagName === "FORM") {
    markTitle();
  }
  initErrorSummaries();
  announcePolicy();
  announceResults();
  // An opened message: focus its heading, announced once, instead of
  // losing focus with the link htmx replaced.
  var opened = document.querySelector("#open-message [data-focus-on-swap]");
  if (opened && detail.target && detail.target.id === "open-message") {
    opened.focus();
  }
});

// The class board updates itself twice a second. A trainer can pause it
// (WCAG 2.2.2); the choice is kept per trainer in this browser, and the
// board starts paused for someone whose system asks for reduced motion.
// Each update keeps the table's sideways scroll; htmx keeps the focus.
(function classBoard() {
  var control = document.getElementById("board-pause");
  if (!control) {
    return;
  }
  var key = "cqrs.board.paused." + (control.getAttribute("data-trainer") || "");
  var stored = null;
  try {
    stored = window.localStorage.getItem(key);
  } catch (e) {
    stored = null;
  }
  var paused = stored !== null ? stored === "true" : window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var label = control.querySelector("[data-board-pause-label]");
  // The label says what the button will do (not aria-pressed as well,
  // which would announce a second, contradicting state).
  function show() {
    label.textContent = paused ? "Resume updates" : "Pause updates";
  }
  control.hidden = false;
  show();
  control.addEventListener("click", function () {
    paused = !paused;
    try {
      window.localStorage.setItem(key, paused ? "true" : "false");
    } catch (e) {
      // Private browsing: the choice lasts for this page only.
    }
    show();
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (paused && event.detail.elt && event.detail.elt.id === "class-board") {
      event.preventDefault();
    }
  });
  var scrollLeft = 0;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var box = event.detail.target && event.detail.target.id === "class-board" && event.detail.target.querySelector(".app-table-scroll");
    if (box) {
      scrollLeft = box.scrollLeft;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var board = document.getElementById("class-board");
    var box = board && board.querySelector(".app-table-scroll");
    if (box && event.detail.elt && event.detail.elt.id === "class-board") {
      box.scrollLeft = scrollLeft;
    }
  });
})();
