// Loads a followed page (one whose script tag says data-every="SECONDS")
// again every so many seconds, as its meta refresh does without
// JavaScript, but only while no one is filling in a form on it: a reload
// would lose what they typed. While a field holds something other than
// what the page came with, the focus is in a form, or a disclosure that
// holds a form was opened or closed, the page stays, and says so in its
// #refresh-note (a status, which screen readers announce). The person
// reloads it when they are done, or sends the form.
(function () {
  "use strict";
  var script = document.currentScript;
  var every = script ? Number(script.getAttribute("data-every")) : 0;
  if (!(every > 0)) {
    return;
  }
  var paused = "Auto-refresh paused while you fill in a form: reload the page to see the latest.";
  var opened = [];

  function changed(e) {
    switch (e.type) {
      case "hidden": case "submit": case "button": case "reset": case "image":
        return false;
      case "checkbox": case "radio":
        return e.checked !== e.defaultChecked;
    }
    if (e.tagName === "SELECT") {
      return Array.prototype.some.call(e.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return e.value !== e.defaultValue;
  }

  function busy() {
    var a = document.activeElement, d = a && a.closest("details");
    if (a && (a.closest("form") || (d && d.querySelector("form")))) {
      return true;
    }
    if (Array.prototype.some.call(document.querySelectorAll("input, textarea, select"), changed)) {
      return true;
    }
    return opened.some(function (d) { return d.el.open !== d.open; });
  }

  function tick() {
    if (!busy()) {
      window.location.reload();
      return;
    }
    var note = document.getElementById("refresh-note");
    if (note && note.textContent !== paused) {
      note.textContent = paused;
    }
    window.setTimeout(tick, every * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
      if (d.querySelector("form")) {
        opened.push({ el: d, open: d.open });
      }
    });
    window.setTimeout(tick, every * 1000);
  });
})();
