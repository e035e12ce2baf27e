// New project form: "Add a class" adds a formset row from the empty form and bumps
// TOTAL_FORMS, so the server sees it.
document.getElementById("add-class").addEventListener("click", () => {
  const total = document.getElementById("id_form-TOTAL_FORMS");
  const html = document.getElementById("class-row-template").innerHTML.replaceAll("__prefix__", total.value);
  document.getElementById("class-rows").insertAdjacentHTML("beforeend", html);
  total.value = Number(total.value) + 1;
});
