// Progressive enhancement only: every page works without this file.
// After htmx swaps in a form sent back with its problems (422), move focus
// to the error summary so keyboard and screen-reader users hear what went
// wrong, and start the page's title with "Error: " as the server does for
// a whole page (NHS service manual): htmx swaps the form, not the <title>.
// The as-you-type checks (sent by an input, not the form) leave both alone.
document.addEventListener("htmx:afterSwap", function (event) {
  var detail = event.detail;
  var sender = detail.requestConfig && detail.requestConfig.elt;
  if (!detail.xhr || detail.xhr.status !== 422 || !sender || sender.tagName !== "FORM") {
    return;
  }
  var summary = document.querySelector("[data-testid=error-summary]");
  if (summary) {
    summary.focus();
  }
  if (document.title.indexOf("Error: ") !== 0) {
    document.title = "Error: " + document.title;
  }
});
