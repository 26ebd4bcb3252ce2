// The account pages: the one-time links' pages (invitation, password reset, first owner's
// setup) read the token from the URL's fragment; sign-in posts email and password. Each
// posts its form as JSON to its endpoint, shows the server's message beside the form, then
// goes to the console (`/`, or sign-in's `next` when it is a path of this site). The home
// page (`/`) shows who is signed in and signs out. Text only (textContent), never HTML.
"use strict";

(function () {
  var token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  var JSON_HEADERS = { "Content-Type": "application/json", Accept: "application/json" };

  // Where to go after signing in: the `next` query parameter when it is a path of this
  // site (not `//host`, not another origin once resolved), else the home page.
  function nextPath() {
    var next = new URLSearchParams(window.location.search).get("next");
    if (!next || next.charAt(0) !== "/" || next.charAt(1) === "/" || next.charAt(1) === "\\") {
      return "/";
    }
    try {
      var url = new URL(next, window.location.origin);
      if (url.origin !== window.location.origin) {
        return "/";
      }
      return url.pathname + url.search + url.hash;
    } catch (invalid) {
      return "/";
    }
  }

  // "try again in 30 seconds" from a Retry-After header (seconds), or "" without one.
  function retryIn(response) {
    var seconds = parseInt(response.headers.get("Retry-After") || "", 10);
    if (!(seconds > 0)) {
      return "";
    }
    if (seconds < 120) {
      return "try again in " + seconds + (seconds === 1 ? " second" : " seconds");
    }
    return "try again in " + Math.ceil(seconds / 60) + " minutes";
  }

  // The server's message for a refusal; on 429 it says when to try again, in words.
  function refusal(response, body) {
    var message = body && typeof body.message === "string" ? body.message : "";
    if (!message) {
      message = "Something went wrong (" + response.status + "). Try again.";
    }
    var retry = response.status === 429 ? retryIn(response) : "";
    if (retry) {
      message = message.replace(/[\s:;,.]*try again later[.]?$/i, "") + ": " + retry + ".";
    }
    return message;
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch (ignored) {
      return null;
    }
  }

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
        headers: JSON_HEADERS,
        body: JSON.stringify(fields(form)),
      });
      var body = await readJson(response);
      if (!response.ok) {
        show(form, refusal(response, body));
        button.disabled = false;
        return;
      }
      var done = form.getAttribute("data-done");
      if (done) {
        show(form, done, "done");
        return;
      }
      window.location.assign(form.hasAttribute("data-sign-in") ? nextPath() : "/");
    } catch (failed) {
      show(form, "Patchbay could not be reached. Check your connection and try again.");
      button.disabled = false;
    }
  }

  // A link pasted into the tab already showing its page changes the fragment only: load
  // the page again so that it reads the new token.
  if (document.querySelector("form[data-needs-token]")) {
    window.addEventListener("hashchange", function () {
      window.location.reload();
    });
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

  // Sign-in: the single sign-on button when it is on; no password form when it is the
  // only way in (unless it is not set up, so that the server's message can be read).
  async function signInPage(form) {
    var response;
    try {
      response = await fetch("/core/v1/sso", { headers: { Accept: "application/json" } });
    } catch (failed) {
      return;
    }
    var sso = response.ok ? await readJson(response) : null;
    if (!sso || !sso.enabled || typeof sso.startUrl !== "string") {
      return;
    }
    var link = document.getElementById("sso");
    link.href = sso.startUrl + "?next=" + encodeURIComponent(nextPath());
    link.hidden = false;
    if (sso.ssoOnly) {
      form.hidden = true;
    } else {
      document.getElementById("or").hidden = false;
    }
  }

  // Home: who is signed in (else to sign-in), and signing out.
  async function homePage(main) {
    var box = main.querySelector(".message");
    function trouble(text) {
      box.textContent = text;
      box.className = "message error";
      box.hidden = false;
      main.hidden = false;
    }
    var response;
    try {
      response = await fetch("/core/v1/session", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (failed) {
      trouble("Patchbay could not be reached. Check your connection and reload the page.");
      return;
    }
    if (response.status === 401) {
      window.location.replace("/sign-in");
      return;
    }
    var session = await readJson(response);
    if (!response.ok || !session || !session.member) {
      trouble(refusal(response, session));
      return;
    }
    var member = session.member;
    var role = member.role && member.role.name ? member.role.name : "";
    document.getElementById("who").textContent =
      "Signed in as " + member.name + " (" + member.email + ")" + (role ? ", " + role : "");
    main.hidden = false;
    var button = document.getElementById("sign-out");
    button.addEventListener("click", async function () {
      button.disabled = true;
      try {
        var out = await fetch("/core/v1/session", {
          method: "DELETE",
          credentials: "same-origin",
          headers: { Accept: "application/json", "X-CSRF-Token": session.csrfToken },
        });
        if (out.ok || out.status === 401) {
          window.location.assign("/sign-in");
          return;
        }
        trouble(refusal(out, await readJson(out)));
      } catch (failed) {
        trouble("Patchbay could not be reached. Check your connection and try again.");
      }
      button.disabled = false;
    });
  }

  var signIn = document.querySelector("form[data-sign-in]");
  if (signIn) {
    signInPage(signIn);
  }
  var home = document.querySelector("main[data-home]");
  if (home) {
    homePage(home);
  }
})();
