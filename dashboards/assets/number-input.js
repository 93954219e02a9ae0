// A number box holding text that is no number ("1e", "--2", "1.2.3") reads as blank to Dash:
// the browser gives no value for it, so a box with a default (trucks, a cost) would run on the
// default without a word. Say so under the box, and hold back the buttons that read the form
// (Run, Save, Download YAML, Apply) until it is corrected.
(function () {
  var MESSAGE = "Not a number: type digits, with a '.' for decimals (2.5), or empty the box.";
  var READS_FORM = "button.primary, #scenario-yaml, #signal-apply";

  function line(box) {
    var field = box.closest ? box.closest("label") : null;
    if (!field) return null;
    var said = field.querySelector(".bad-number");
    if (!said) {
      said = document.createElement("div");
      said.className = "field-message bad-number";
      said.setAttribute("role", "alert");
      field.appendChild(said);
    }
    return said;
  }

  // true where the box holds text the browser cannot read as a number
  function check(box) {
    if (!box || box.tagName !== "INPUT" || box.type !== "number") return false;
    var bad = Boolean(box.validity && box.validity.badInput);
    var said = line(box);
    if (said) said.textContent = bad ? MESSAGE : "";
    box.classList.toggle("bad-number-input", bad);
    return bad;
  }

  document.addEventListener("input", function (event) { check(event.target); }, true);
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest(READS_FORM) : null;
    if (!button) return;
    var boxes = document.querySelectorAll("#page input[type=number]");
    var bad = Array.prototype.filter.call(boxes, check);
    if (bad.length) {
      // before React sees the click: the callback behind the button never fires
      event.preventDefault();
      event.stopImmediatePropagation();
      bad[0].focus();
    }
  }, true);
})();
