// Progressive enhancement only: every page works without this file.
// After htmx swaps in a form with problems, move focus to its error summary
// so keyboard and screen-reader users hear what went wrong.
document.addEventListener("htmx:afterSwap", function (event) {
  var summary = event.detail.target.querySelector("[data-testid=error-summary]");
  if (summary) {
    summary.focus();
  }
});
