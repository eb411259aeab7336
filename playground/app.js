// The playground page: loads Pyodide and the wheels from this folder only (manifest.json lists
// them), installs the wheels by unpacking them (no micropip, no package index), then runs
// play.py's run() for each click of Run. Every answer from Python is JSON; user text reaches
// the page only as textContent, or inside HTML that rich escaped (play.py).
"use strict";

const started = performance.now();
const $ = (id) => document.getElementById(id);
let py = null;
let play = null;
let manifest = null;
let firstResult = null;
let numpy = null; // null: not tried; true: loaded; else the reason it is not there
const marks = {}; // performance.now() at the end of each phase of the first load

function say(text) {
  $("status").textContent = text;
}

function seconds(ms) {
  return (ms / 1000).toFixed(1) + " s";
}

function megabytes(bytes) {
  return (bytes / 1e6).toFixed(1) + " MB";
}

// What this page downloaded: the body sizes the browser fetched (Resource Timing).
function downloaded() {
  const entries = [...performance.getEntriesByType("navigation"),
                   ...performance.getEntriesByType("resource")];
  return entries.reduce((sum, e) => sum + (e.encodedBodySize || 0), 0);
}

async function get(path, how) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return how === "text" ? response.text() : response.arrayBuffer();
}

async function boot() {
  if (location.protocol === "file:") { // fetch() of the interpreter and wheels needs HTTP
    say("The playground needs a web server, even a local one: browsers do not let a page " +
      "opened from a file load its own WebAssembly. In this folder run " +
      "`python -m http.server`, then open http://localhost:8000/");
    return;
  }
  try {
    say("Loading the Python interpreter (Pyodide)…");
    manifest = JSON.parse(await get("manifest.json", "text"));
    // The wheels download while the interpreter starts; they are unpacked in order after.
    const wheels = manifest.wheels.map((w) => get("wheels/" + encodeURIComponent(w.name)));
    const source = get("play.py", "text");
    // packageBaseUrl too: Pyodide's fallback for packages is its CDN, never wanted here.
    py = await loadPyodide({ indexURL: "./pyodide/", packageBaseUrl: "./pyodide/" });
    marks.interpreter = performance.now();
    say("Installing backprop, sympy, lark and rich…");
    for (const buffer of await Promise.all(wheels)) py.unpackArchive(buffer, "wheel");
    const site = py.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
    py.FS.writeFile(site + "/backprop_play.py", await source);
    play = py.pyimport("backprop_play");
    marks.wheels = performance.now();
    say("Importing sympy…");
    await new Promise((done) => setTimeout(done, 20)); // let it show: Python blocks
    play.warm();
    marks.imports = performance.now();
    await run();
  } catch (err) {
    say("The playground could not start: " + (err && err.message ? err.message : err));
    console.error(err);
  }
}

async function loadNumpy() {
  if (numpy !== null) return numpy === true;
  if (!manifest.numpy) {
    numpy = "this copy of the playground does not carry Pyodide's numpy wheel (it runs from " +
      "its own files only, with no package index or CDN)";
    return false;
  }
  say("Loading numpy…");
  let problem = "";
  try {
    await py.loadPackage("numpy", { messageCallback: () => {}, errorCallback: (m) => { problem = m; } });
    py.runPython("import numpy");
    numpy = true;
  } catch (err) {
    numpy = "it could not be loaded: " + (problem || (err && err.message) || err);
  }
  return numpy === true;
}

function clear() {
  for (const id of ["error", "numpy"]) {
    $(id).hidden = true;
    $(id).replaceChildren();
  }
}

function showError(error) {
  const box = $("error");
  const line = (text, cls) => {
    const pre = document.createElement("pre");
    pre.textContent = text;
    if (cls) pre.className = cls;
    box.append(pre);
  };
  line("error: " + error.message, "message");
  if (error.context) line(error.context.replace(/^/gm, "  "), "context");
  if (error.hint) line("hint: " + error.hint, "hint");
  box.hidden = false;
  $("report").replaceChildren();
  $("replay").hidden = true;
}

function showNumpy() {
  const box = $("numpy");
  const p = document.createElement("p");
  p.textContent = "Arrays and formula answers (such as dx = 2*x) need numpy, which Pyodide " +
    "provides from its own package set, and " + numpy + ". Scalar expressions and answers " +
    "given as numbers work here in full: ";
  const example = document.createElement("button");
  example.type = "button";
  example.className = "link";
  example.textContent = "try (x+y)*z";
  example.addEventListener("click", () => fill("(x+y)*z", "x=-2,y=5,z=-4", "", true));
  p.append(example);
  box.append(p);
  box.hidden = false;
  $("report").replaceChildren();
  $("replay").hidden = true;
}

function showResult(out) {
  $("report").innerHTML = out.report; // rich's export: every character of user text escaped
  const frame = $("replay");
  if (out.replay) {
    frame.srcdoc = out.replay; // a property, not markup: nothing to escape
    frame.style.height = out.replay_height + "px";
    frame.hidden = false;
  } else {
    frame.hidden = true;
  }
}

function showFigures() {
  const bytes = downloaded();
  const box = $("figures");
  box.dataset.bytes = String(bytes);
  box.dataset.ms = String(Math.round(firstResult - started));
  box.textContent = `First load: ${megabytes(bytes)} downloaded (the Python interpreter ` +
    `${manifest.python} from Pyodide ${manifest.pyodide}, and ${manifest.wheels.length} ` +
    `wheels), first result ${seconds(firstResult - started)} after the page opened ` +
    `(the interpreter ${seconds(marks.interpreter - started)}, the wheels ` +
    `${seconds(marks.wheels - marks.interpreter)}, importing sympy and its first derivative ` +
    `${seconds(marks.imports - marks.wheels)}, the check ${seconds(firstResult - marks.imports)}). ` +
    "Later runs reuse all of it.";
  box.hidden = false;
}

async function run() {
  const expr = $("expr").value;
  const at = $("at").value;
  const expect = $("expect").value;
  $("run").disabled = true;
  say("Running…");
  await new Promise((done) => setTimeout(done, 20)); // let "Running…" show: Python blocks
  try {
    let out = JSON.parse(play.run(expr, at, expect));
    if (out.needs === "numpy" && (await loadNumpy())) out = JSON.parse(play.run(expr, at, expect));
    clear();
    if (out.needs === "numpy") showNumpy();
    else if (out.error) showError(out.error);
    else showResult(out);
    say(out.report ? `Done in ${seconds(out.seconds * 1000)}.` : "");
  } catch (err) { // play.run raised: a bug, said in one line (the console has the trace)
    console.error(err);
    clear();
    showError({ message: "internal error: the playground failed; the browser's console " +
      "shows why", context: "", hint: "" });
    say("");
  } finally {
    $("run").disabled = false;
    document.body.dataset.runs = String(Number(document.body.dataset.runs || 0) + 1);
    if (firstResult === null) {
      firstResult = performance.now();
      showFigures();
    }
  }
}

function fill(expr, at, expect, go) {
  $("expr").value = expr;
  $("at").value = at;
  $("expect").value = expect;
  if (go && play) run();
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (play) run();
});
for (const b of document.querySelectorAll("button[data-expr]")) {
  b.addEventListener("click", () => fill(b.dataset.expr, b.dataset.at, b.dataset.expect, true));
}
boot();
