// Show each slider's value in its <output for="id">: display only, no stream logic.
for (const output of document.querySelectorAll("output[for]")) {
  const input = document.getElementById(output.htmlFor.value);
  if (!input) continue;
  const show = () => { output.value = input.step && input.step.includes(".") ? Number(input.value).toFixed(2) : input.value; };
  input.addEventListener("input", show);
  show();
}
