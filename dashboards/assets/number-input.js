// A number box holding text that is no number ("1e", "--2", "1.2.3") reads as blank to Dash:
// the browser gives no value for it, so a box with a default (trucks, a cost) would run on the
// default without a word. Say so beside the box, and hold back the button that reads its form
// (a form's boxes share its buttons' prefix: scenario-save reads scenario-trucks) until the
// box is corrected.
(function () {
  var MESSAGE = "Not a number: type digits, with a '.' for decimals (2.5), or empty the box.";
  var FORM_BUTTON = /^(scenario|traffic|waste|plans|signals|routes)-(run|save|yaml)$/;

  // the number boxes the button reads (none: a button that reads no number box)
  function boxesOf(button) {
    if (button.id === "signal-apply") {
      return document.querySelectorAll('#page input[type=number][id*="signal-green"]');
    }
    var form = FORM_BUTTON.exec(button.id);
    return form ? document.querySelectorAll('#page input[type=number][id^="' + form[1] + '-"]') : [];
  }

  function line(box) {
    // a form's label, or the table cell of a signal's green
    var holder = (box.closest && box.closest("label")) || box.parentElement;
    if (!holder) return null;
    var said = holder.querySelector(".bad-number");
    if (!said) {
      said = document.createElement("div");
      said.className = "field-message bad-number";
      said.setAttribute("role", "alert");
      holder.appendChild(said);
    }
    return said;
  }

  // true where the box holds text the browser cannot read as a number
  function check(box) {
    if (!box || box.tagName !== "INPUT" || box.type !== "number") return false;
    var bad = Boolean(box.validity && box.validity.badInput);
    if (bad || box.classList.contains("bad-number-input")) {
      var said = line(box);
      if (said) said.textContent = bad ? MESSAGE : "";
      box.classList.toggle("bad-number-input", bad);
    }
    return bad;
  }

  document.addEventListener("input", function (event) { check(event.target); }, true);
  // a value the page sets (a scenario loaded) fires no input event: look again at the boxes
  // said to be wrong
  window.setInterval(function () {
    Array.prototype.forEach.call(document.querySelectorAll("input.bad-number-input"), check);
  }, 500);
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("button[id]") : null;
    if (!button) return;
    var bad = Array.prototype.filter.call(boxesOf(button), check);
    if (bad.length) {
      // before React sees the click: the callback behind the button never fires
      event.preventDefault();
      event.stopImmediatePropagation();
      bad[0].focus();
    }
  }, true);
})();
