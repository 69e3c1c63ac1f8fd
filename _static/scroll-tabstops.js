// Keyboard access to code blocks that scroll sideways (axe: scrollable-region-focusable).
// The theme gives a tab stop only to blocks that scroll when the page loads; a block inside a
// folded solution or a hidden cell input scrolls only once opened, so check again after clicks.
(function () {
  function addTabStops() {
    document.querySelectorAll("div.highlight pre, div.cell_output pre").forEach(function (pre) {
      // the theme marks blocks that did not scroll at load with tabindex="-1"
      if (pre.getAttribute("tabindex") !== "0" && pre.scrollWidth > pre.clientWidth) {
        pre.setAttribute("tabindex", "0");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", addTabStops);
  document.addEventListener("click", function () { requestAnimationFrame(addTabStops); }, true);
  document.addEventListener("toggle", function () { requestAnimationFrame(addTabStops); }, true);
})();
