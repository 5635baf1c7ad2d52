// New-session form: drag-and-drop screenshots with previews, more requirement fields.
const input = document.getElementById("screenshots");
const zone = document.getElementById("dropzone");
const previews = document.getElementById("previews");
const ALLOWED = ["image/png", "image/jpeg", "image/webp"];

function showPreviews() {
  previews.replaceChildren();
  for (const file of input.files) {
    const item = document.createElement("li");
    if (ALLOWED.includes(file.type)) {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = `Preview of ${file.name}`;
      item.append(img);
    }
    item.append(`${file.name} (${Math.round(file.size / 1024)} KB)`);
    if (!ALLOWED.includes(file.type)) item.append(" — not a PNG, JPEG or WebP image; the server will refuse it");
    previews.append(item);
  }
}

input.addEventListener("change", showPreviews);
// Another organisation offers other agents: reload the form for it (a listener, not an inline onchange: CSP).
document.getElementById("organization").addEventListener("change", (e) => {
  location.search = `?organization=${encodeURIComponent(e.target.value)}`;
});
zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => zone.addEventListener(t, () => zone.classList.remove("over")));
zone.addEventListener("drop", (e) => {
  e.preventDefault();
  const transfer = new DataTransfer();
  for (const file of [...input.files, ...e.dataTransfer.files]) transfer.items.add(file);
  input.files = transfer.files;
  showPreviews();
});

document.getElementById("add-requirement").addEventListener("click", () => {
  const list = document.getElementById("requirements");
  const n = list.children.length + 1;
  const item = document.createElement("li");
  item.innerHTML = `<label class="sr-only" for="req-${n}x">Requirement ${n}</label><input id="req-${n}x" name="requirements">`;
  list.append(item);
  item.querySelector("input").focus();
});
