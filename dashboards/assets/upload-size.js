// A file larger than an upload's limit is dropped by the browser's file picker without a word
// (dcc.Upload's max_size): say so on the upload's own line, before anything is sent.
(function () {
  function mib(bytes) {
    return (bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0) + " MiB";
  }
  function check(target, files) {
    var box = target && target.closest ? target.closest("[data-max-bytes]") : null;
    if (!box || !files || !files.length) return;
    var limit = Number(box.getAttribute("data-max-bytes"));
    var line = box.querySelector(".error");
    if (!line) return;
    var file = files[0];
    var advice = box.getAttribute("data-too-large") || "";
    line.textContent = file.size > limit
      ? file.name + " is " + mib(file.size) + ", larger than the " + mib(limit) +
        " this upload takes" + (advice ? ": " + advice : ".")
      : "";
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.type === "file") check(event.target, event.target.files);
  }, true);
  document.addEventListener("drop", function (event) {
    check(event.target, event.dataTransfer ? event.dataTransfer.files : null);
  }, true);
})();
