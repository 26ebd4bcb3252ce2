// The account pages (invitation, password reset, first owner's setup): read the one-time
// token from the URL's fragment, post the form as JSON to its endpoint, show the server's
// message beside the form, then go to the console. Text only (textContent), never HTML.
"use strict";

(function () {
  var token = new URLSearchParams(window.location.hash.slice(1)).get("token");

  function show(form, text, kind) {
    var box = form.querySelector(".message");
    box.textContent = text;
    box.className = "message " + (kind || "error");
    box.hidden = !text;
  }

  function fields(form) {
    var data = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && el.name !== "confirm") {
        data[el.name] = el.value;
      }
    });
    if (form.hasAttribute("data-needs-token")) {
      data.token = token;
    }
    return data;
  }

  async function submit(form, event) {
    event.preventDefault();
    var confirm = form.elements.namedItem("confirm");
    var password = form.elements.namedItem("password");
    if (confirm && password && confirm.value !== password.value) {
      show(form, "The two passwords differ.");
      return;
    }
    var button = form.querySelector("button");
    button.disabled = true;
    show(form, "");
    try {
      var response = await fetch(form.getAttribute("data-endpoint"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(fields(form)),
      });
      var body = null;
      try {
        body = await response.json();
      } catch (ignored) {
        body = null;
      }
      if (!response.ok) {
        var message = body && typeof body.message === "string" ? body.message : "";
        show(form, message || "Something went wrong (" + response.status + "). Try again.");
        button.disabled = false;
        return;
      }
      var done = form.getAttribute("data-done");
      if (done) {
        show(form, done, "done");
        return;
      }
      window.location.assign("/");
    } catch (failed) {
      show(form, "Patchbay could not be reached. Check your connection and try again.");
      button.disabled = false;
    }
  }

  document.querySelectorAll("form[data-endpoint]").forEach(function (form) {
    if (form.hasAttribute("data-needs-token")) {
      form.hidden = !token && document.querySelector("form[data-without-token]") !== null;
      if (!token && !form.hidden) {
        show(form, "This page opens from the link in your email (the address ends with #token=...). Open that link again.");
        form.querySelector("button").disabled = true;
      }
    } else if (form.hasAttribute("data-without-token")) {
      form.hidden = Boolean(token);
    }
    form.addEventListener("submit", function (event) {
      submit(form, event);
    });
  });
})();
