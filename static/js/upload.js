// The upload page: files, a whole folder (picker or drag and drop) or one dataset zip, sent by
// htmx with each file's relative path so the server can pair masks with images by name
// (webapp/datasets/folder.py). htmx swaps in the per-file report; this module only gathers the
// files, shows progress, and sends a zip again with confirm=1 when the user confirms its analysis.

const form = document.querySelector("[data-upload-form]");

/** Files of a dropped folder, walked with the entries API: [{file, path}]. */
async function entryFiles(entry, prefix = "") {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    return [{ file, path: prefix + file.name }];
  }
  const reader = entry.createReader();
  const children = [];
  // readEntries hands back at most about 100 entries a call: read until it returns none.
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) break;
    children.push(...batch);
  }
  const nested = await Promise.all(children.map((child) => entryFiles(child, `${prefix}${entry.name}/`)));
  return nested.flat();
}

function describe(chosen) {
  if (!chosen.length) return "";
  const zip = chosen.length === 1 && chosen[0].path.toLowerCase().endsWith(".zip");
  return zip ? `Dataset zip ${chosen[0].path}: checked first, stored when you confirm.`
    : `${chosen.length} file${chosen.length === 1 ? "" : "s"} chosen.`;
}

function setUp(form) {
  const drop = form.querySelector("[data-upload-drop]");
  const filesInput = form.querySelector("input[name=files]");
  const folderInput = form.querySelector("[data-upload-folder]");
  const chosenText = form.querySelector("[data-upload-chosen]");
  const confirmField = form.querySelector("input[name=confirm]");
  const box = document.getElementById("upload-progress");
  const bar = box.querySelector("progress");
  const text = document.getElementById("upload-progress-text");
  const maxFiles = Number(form.dataset.maxFiles);
  let chosen = [];

  const choose = (list) => {
    chosen = list;
    // Django refuses a request with more files than DATA_UPLOAD_MAX_NUMBER_FILES: say so first.
    const tooMany = chosen.length > maxFiles;
    chosenText.textContent = tooMany
      ? `${chosen.length} files chosen; at most ${maxFiles} go in one upload: zip the folder, or upload it in parts.`
      : describe(chosen);
    chosenText.classList.toggle("error", tooMany);
    form.querySelector("button[type=submit]").disabled = tooMany;
  };
  filesInput.addEventListener("change", () => {
    folderInput.value = "";
    choose([...filesInput.files].map((file) => ({ file, path: file.name })));
  });
  folderInput.addEventListener("change", () => {
    filesInput.value = "";
    choose([...folderInput.files].map((file) => ({ file, path: file.webkitRelativePath || file.name })));
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    // Entries must be taken before the first await: the DataTransfer is emptied after the event.
    const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
    const files = entries.length ? (await Promise.all(entries.map((e) => entryFiles(e)))).flat()
      : [...event.dataTransfer.files].map((file) => ({ file, path: file.name }));
    filesInput.value = "";
    folderInput.value = "";
    choose(files);
  });

  // The request carries the gathered files (whatever the inputs hold) and one path per file.
  form.addEventListener("htmx:configRequest", (event) => {
    const data = event.detail.formData;
    data.delete("files");
    data.delete("paths");
    for (const { file, path } of chosen) {
      data.append("files", file, file.name);
      data.append("paths", path);
    }
  });
  form.addEventListener("htmx:beforeRequest", () => {
    box.hidden = false;
    bar.value = 0;
    text.textContent = "Uploading…";
  });
  form.addEventListener("htmx:xhr:progress", (event) => {
    if (!event.detail.lengthComputable) return;
    bar.value = (event.detail.loaded / event.detail.total) * 100;
    text.textContent = bar.value < 100 ? `Uploading… ${Math.round(bar.value)} %`
      : "Uploaded; checking and storing each file…";
  });
  form.addEventListener("htmx:afterRequest", (event) => {
    box.hidden = true;
    const wasConfirm = confirmField.value === "1";
    confirmField.value = "0";
    const analysed = document.querySelector("[data-dataset-report]") && !wasConfirm;
    // A zip's analysis keeps the zip chosen, for the confirm button; anything else starts afresh.
    if (event.detail.successful && !analysed) {
      form.reset();
      choose([]);
    }
  });
  // The confirm button arrives in the swapped report: one listener on the results section.
  document.getElementById("upload-results").addEventListener("click", (event) => {
    if (!event.target.closest("[data-upload-confirm]")) return;
    confirmField.value = "1";
    htmx.trigger(form, "submit");
  });
}

if (form) setUp(form);
