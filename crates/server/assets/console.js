// Jeton console: shows every <time> in the viewer's own time zone; the UTC time the server wrote
// stays in the tooltip. Pages work the same without this script.
document.querySelectorAll("time[datetime]").forEach(function (t) {
  var d = new Date(t.getAttribute("datetime"));
  if (isNaN(d)) return;
  var dateOnly = t.dataset.date === "1";
  t.title = t.textContent + (dateOnly ? "" : " (UTC)");
  t.textContent = dateOnly
    ? d.toLocaleDateString(undefined, { timeZone: "UTC" })
    : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
});
