// The live board: notify's feed (through the console's /live, as the signed-in person)
// says something happened; the board's tables are fetched again and swapped in, so a
// breach appears without a reload. No inline script anywhere (the CSP forbids it).
"use strict";
(function () {
  const board = document.getElementById("board");
  if (!board) return;
  const status = document.getElementById("live-status");
  let pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(async function () {
      pending = null;
      const answer = await fetch(board.dataset.rows, { credentials: "same-origin" });
      if (answer.ok) board.innerHTML = await answer.text();
    }, 300);
  }
  const feed = new EventSource("/live");
  feed.onopen = function () { status.textContent = status.dataset.live; status.className = "live on"; };
  feed.onerror = function () { status.textContent = status.dataset.lost; status.className = "live off"; };
  feed.onmessage = refresh;
})();

// The new-case form: what intake would make of it and the customer's open cases, as
// the clerk types; the policy number opens only after the identity check.
(function () {
  const form = document.getElementById("new-case");
  if (!form) return;
  const hints = document.getElementById("hints");
  const verified = document.getElementById("n-identity_verified");
  const policy = document.getElementById("n-policy_no");
  verified.addEventListener("change", function () { policy.disabled = !verified.checked; });
  let timer = null;
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(async function () {
      const data = new URLSearchParams(new FormData(form));
      const answer = await fetch("/new/check", { method: "POST", body: data, credentials: "same-origin" });
      if (answer.ok) hints.innerHTML = await answer.text();
    }, 350);
  });
})();
