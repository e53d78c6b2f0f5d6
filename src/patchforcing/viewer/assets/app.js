// The Patch Forcing viewer page: a form that starts runs, one event stream per run, and a player that
// draws (with draw.js) every network pass of one to four samplers side by side, stepping together by
// passes (NFE).
// With an embedded #pf-static block (written by `patchforcing view --static`) it plays precomputed
// runs and needs no server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const draw = window.patchforcingDraw;
  const FRAME_MS = 150;
  const staticBlock = document.getElementById("pf-static");
  const clientId = randomId();
  let info = null; // what /api/models says
  let run = null; // the run on screen: {summary, status, lanes: [{plan, frames, result, lo, hi, el}]}
  let source = null; // the live run's EventSource
  let timer = null; // the play timer
  let follow = true; // show the newest pass as it arrives

  function randomId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function say(text, isError = false) {
    $("message").textContent = text;
    $("message").className = isError ? "error" : "";
  }

  // ---- the form (served mode) ----

  async function init() {
    if (staticBlock) {
      initStatic(JSON.parse(staticBlock.textContent));
      return;
    }
    try {
      const response = await fetch("/api/models");
      info = await response.json();
    } catch (err) {
      say(`cannot reach the viewer: ${err}`, true);
      return;
    }
    buildForm();
  }

  function buildForm() {
    $("run-form").hidden = false;
    for (const c of info.checkpoints) $("checkpoint").add(new Option(`${c.name} (${c.description})`, c.name));
    for (const name of info.samplers) {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = name;
      box.className = "sampler-choice";
      label.append(box, ` ${name}`);
      $("sampler-list").append(label);
    }
    for (const option of info.options) {
      const label = document.createElement("label");
      label.title = `${option.help} (${option.samplers.join(", ")}; ${option.flag})`;
      label.dataset.samplers = option.samplers.join(",");
      const input = document.createElement("input");
      input.id = `opt-${option.name}`;
      input.dataset.option = option.name;
      input.dataset.type = option.type;
      if (option.type === "bool") {
        input.type = "checkbox";
        input.checked = option.default;
        label.append(input, ` ${option.name}`);
      } else {
        input.type = "number";
        input.step = option.type === "int" ? "1" : "any";
        input.value = option.default;
        label.append(`${option.name} `, input);
      }
      $("option-list").append(label);
    }
    $("nfe").max = info.limits.max_nfe;
    $("seed").max = info.limits.max_seed;
    $("cfg").max = info.limits.max_cfg;
    $("prompt").maxLength = info.limits.max_prompt;
    $("checkpoint").addEventListener("change", checkpointChanged);
    $("sampler-list").addEventListener("change", samplersChanged);
    $("run-form").addEventListener("submit", (event) => {
      event.preventDefault();
      startRun();
    });
    $("cancel").addEventListener("click", cancelRun);
    checkpointChanged();
  }

  function currentCheckpoint() {
    return info.checkpoints.find((c) => c.name === $("checkpoint").value);
  }

  function chosenSamplers() {
    return Array.from(document.querySelectorAll(".sampler-choice:checked"), (box) => box.value);
  }

  function checkpointChanged() {
    const c = currentCheckpoint();
    if (run && run.summary.checkpoint !== c.name) clearRun(); // no panels of another model
    $("label").replaceChildren(...c.class_names.map((name, i) => new Option(`${i}: ${name}`, String(i))));
    $("label").disabled = c.class_names.length === 0;
    $("label-field").hidden = c.prompt;
    $("prompt-field").hidden = !c.prompt;
    for (const box of document.querySelectorAll(".sampler-choice")) {
      box.disabled = !c.samplers.includes(box.value);
      box.checked = box.checked && !box.disabled;
      box.parentElement.classList.toggle("off", box.disabled);
    }
    const r = c.recommended; // the model folder's recommended settings: the page starts from them
    if (r) {
      $("nfe").value = String(r.nfe);
      $("cfg").value = String(r.guidance_scale);
      $("cfg-lo").value = String(r.guidance_interval[0]);
      $("cfg-hi").value = String(r.guidance_interval[1]);
    }
    $("recommended").textContent = r
      ? `recommended for ${c.name}: ${r.sampler}, NFE ${r.nfe}, CFG ${r.guidance_scale} (CFG 1: unguided)`
      : "";
    const first = r && c.samplers.includes(r.sampler) ? r.sampler : c.default_sampler;
    if (chosenSamplers().length === 0) document.querySelector(`.sampler-choice[value="${first}"]`).checked = true;
    samplersChanged();
  }

  function samplersChanged() {
    const chosen = chosenSamplers();
    for (const label of document.querySelectorAll("#option-list label[data-samplers]")) {
      const used = label.dataset.samplers.split(",").some((name) => chosen.includes(name));
      label.classList.toggle("off", !used);
      label.querySelector("input").disabled = !used;
    }
  }

  function requestBody() {
    const number = (id) => Number($(id).value);
    const options = {};
    for (const input of document.querySelectorAll("#option-list input[data-option]")) {
      if (!input.disabled) options[input.dataset.option] = input.dataset.type === "bool" ? input.checked : Number(input.value);
    }
    const text = currentCheckpoint().prompt; // a text-to-image model takes a prompt instead of a class
    return {
      client: clientId, checkpoint: $("checkpoint").value, samplers: chosenSamplers(), options,
      nfe: number("nfe"), seed: number("seed"), label: text ? null : number("label"),
      prompt: text ? $("prompt").value : null, cfg: number("cfg"), cfg_interval: [number("cfg-lo"), number("cfg-hi")],
    };
  }

  async function startRun() {
    say("starting…");
    let response, body;
    try {
      response = await fetch("/api/runs", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(requestBody()),
      });
      body = await response.json();
    } catch (err) {
      say(`the viewer did not answer: ${err}`, true);
      return;
    }
    if (!response.ok) {
      say(body.error || `the viewer answered ${response.status}`, true);
      return;
    }
    show(body);
    say(`running ${describe(body)}`);
    listen(body.id);
  }

  async function cancelRun() {
    if (!run) return;
    try {
      await fetch(`/api/runs/${run.summary.id}/cancel`, {method: "POST"});
    } catch (err) {
      say(`the viewer did not answer: ${err}`, true);
    }
  }

  // Take the run off the page (stopping it if it still runs): the page is back to "no run yet".
  function clearRun() {
    pause();
    if (source) source.close();
    source = null;
    if (run.status === "running") cancelRun();
    run = null;
    $("lanes").replaceChildren();
    delete $("lanes").dataset.run;
    $("step").max = "0";
    $("step").value = "0";
    for (const id of ["step", "play", "export-png", "cancel"]) $(id).disabled = true;
    $("step-label").textContent = "no run yet";
    say("");
  }

  function listen(id) {
    const stream = new EventSource(`/api/runs/${id}/events`);
    source = stream;
    for (const kind of ["frame", "lane"]) stream.addEventListener(kind, (e) => dispatch(kind, JSON.parse(e.data)));
    stream.addEventListener("end", (e) => {
      stream.close();
      dispatch("end", JSON.parse(e.data));
    });
    stream.onerror = () => {
      if (stream.readyState === EventSource.CLOSED && run && run.summary.id === id && run.status === "running") {
        say("lost the connection to the viewer", true);
      }
    };
  }

  // ---- a run on screen (served or static) ----

  function describe(summary) {
    const what = summary.prompt ? `, prompt "${summary.prompt}"`
      : summary.class_name === null ? "" : `, class ${summary.label} (${summary.class_name})`;
    return `${summary.checkpoint}, seed ${summary.seed}${what}, NFE budget ${summary.nfe_budget}`;
  }

  // What the image shows: its class or its prompt.
  function subject(summary) {
    if (summary.prompt !== null) return `“${summary.prompt}”`;
    return summary.class_name === null ? "unconditional" : `class ${summary.label}: ${summary.class_name}`;
  }

  // The command as its shell words, each kept whole on a line; the text is the command itself.
  function commandWords(code, words) {
    code.replaceChildren();
    words.forEach((word, i) => {
      if (i) code.append(" ");
      const span = document.createElement("span");
      span.className = "word";
      span.textContent = word;
      code.append(span);
    });
  }

  function show(summary) {
    pause();
    if (source) source.close();
    source = null;
    const panel = summary.image_size * summary.scale; // a whole factor: crisp pixels
    run = {
      summary, status: "running",
      lanes: summary.lanes.map((plan) => ({plan, frames: [], result: null, lo: Infinity, hi: -Infinity, el: null})),
    };
    $("lanes").replaceChildren();
    $("lanes").dataset.run = summary.id;
    run.lanes.forEach((lane, i) => {
      const el = $("lane-template").content.firstElementChild.cloneNode(true);
      el.dataset.lane = String(i);
      el.dataset.status = "running";
      el.querySelector(".lane-sampler").textContent = lane.plan.sampler;
      el.querySelector(".lane-subject").textContent = subject(summary);
      commandWords(el.querySelector(".lane-command"), lane.plan.words);
      el.querySelector(".lane-copy").addEventListener("click", () => copy(lane.plan.command));
      for (const canvas of el.querySelectorAll(".panels > figure > canvas")) canvas.width = canvas.height = panel;
      for (const canvas of el.querySelectorAll(".colour-bar canvas")) {
        canvas.width = panel;
        canvas.height = 8;
        draw.bar(canvas);
      }
      lane.el = el;
      $("lanes").append(el);
    });
    $("cancel").disabled = false;
    $("step").max = "0";
    $("step").value = "0";
    follow = true;
    render();
  }

  function dispatch(kind, data) {
    if (kind === "frame") addFrame(data);
    else if (kind === "lane") laneDone(data);
    else if (kind === "end") ended(data);
  }

  function addFrame(frame) {
    const lane = run.lanes[frame.lane];
    lane.frames[frame.index] = frame;
    for (const v of frame.difficulty || []) {
      lane.lo = Math.min(lane.lo, v);
      lane.hi = Math.max(lane.hi, v);
    }
    const last = Math.max(...run.lanes.map((l) => l.frames.length)) - 1;
    $("step").max = String(last);
    for (const id of ["step", "play", "export-png"]) $(id).disabled = false;
    if (follow && !timer) $("step").value = String(last);
    render();
  }

  function laneDone(result) {
    const lane = run.lanes[result.lane];
    lane.result = result;
    lane.el.dataset.status = "done";
    lane.el.dataset.nfe = String(result.nfe);
    lane.el.querySelector(".lane-result").textContent =
      `done: NFE ${result.nfe} as the sampler counts it, ${result.steps} outer steps, ` +
      `${result.passes} passes drawn, ${result.seconds.toFixed(2)} s`;
    if (!staticBlock) {
      const link = lane.el.querySelector(".lane-gif");
      link.href = `/api/runs/${run.summary.id}/lanes/${result.lane}.gif`;
      link.download = `${lane.plan.sampler}-seed${run.summary.seed}.gif`;
      link.hidden = false;
    }
    render();
  }

  function ended(end) {
    run.status = end.status;
    $("cancel").disabled = true;
    for (const lane of run.lanes) if (!lane.result) lane.el.dataset.status = end.status;
    if (!staticBlock) {
      if (end.status === "error") say(end.message, true);
      else say(`${end.status}: ${describe(run.summary)}`);
    }
    render();
  }

  // ---- drawing ----

  function render() {
    if (!run) return;
    const k = Number($("step").value);
    const passes = Number($("step").max) + 1;
    $("step-label").textContent = run.lanes.some((l) => l.frames.length) ? `pass ${k + 1} of ${passes}` : "waiting";
    for (const lane of run.lanes) drawLane(lane, k);
  }

  function drawLane(lane, k) {
    const el = lane.el;
    const status = lane.result ? "done" : run.status !== "running" ? run.status : lane.frames.length ? "running" : "waiting";
    el.querySelector(".lane-status").textContent = `(${status})`;
    const frame = lane.frames[Math.min(k, lane.frames.length - 1)];
    if (!frame) {
      el.querySelector(".lane-nfe").textContent = `NFE 0 / ${lane.plan.nfe}`;
      return;
    }
    const s = run.summary;
    el.querySelector(".lane-nfe").textContent = `NFE ${frame.nfe} / ${lane.plan.nfe}`;
    el.querySelector(".lane-outer").textContent = `outer step ${frame.outer + 1} / ${lane.plan.steps}`;
    el.querySelector(".lane-certain").textContent = `${frame.certain.length} certain patches`;
    draw.image(el.querySelector(".panel-image"), frame.image, s.image_size, s.channels);
    draw.map(el.querySelector(".panel-time"), frame.t, s.grid, (v) => v, frame.certain);
    const span = lane.hi - lane.lo || 1;
    draw.map(el.querySelector(".panel-difficulty"), frame.difficulty, s.grid, (v) => (v - lane.lo) / span, frame.certain);
    const bar = el.querySelector('.colour-bar[data-map="difficulty"]');
    bar.hidden = !frame.difficulty; // grey panel: no difficulty head, no scale
    if (frame.difficulty) {
      bar.querySelector(".bar-lo").textContent = `${lane.lo.toFixed(2)} easy`;
      bar.querySelector(".bar-hi").textContent = `hard ${lane.hi.toFixed(2)}`;
    }
  }

  // ---- player and export ----

  function play() {
    const slider = $("step");
    if (Number(slider.value) >= Number(slider.max)) slider.value = "0";
    follow = false;
    $("play").textContent = "Pause";
    timer = setInterval(() => {
      if (Number(slider.value) < Number(slider.max)) {
        slider.value = String(Number(slider.value) + 1);
        render();
      } else if (run.status !== "running") {
        pause();
      }
    }, FRAME_MS);
  }

  function pause() {
    if (timer) clearInterval(timer);
    timer = null;
    $("play").textContent = "Play";
    follow = Number($("step").value) === Number($("step").max);
  }

  function framePNG() {
    return draw.framePNG(run.lanes.map((lane) => ({
      label: `${lane.plan.sampler}, ${subject(run.summary)}: ${lane.el.querySelector(".lane-nfe").textContent}, ` +
        lane.el.querySelector(".lane-outer").textContent,
      panels: Array.from(lane.el.querySelectorAll(".panels > figure > canvas")),
    })));
  }

  function copy(text) {
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(() => say("command copied"), () => say("select the command to copy it"));
    } else {
      say("select the command to copy it");
    }
  }

  $("play").addEventListener("click", () => (timer ? pause() : play()));
  $("step").addEventListener("input", () => {
    pause();
    render();
  });
  $("export-png").addEventListener("click", () => {
    const link = document.createElement("a");
    link.href = framePNG();
    link.download = `patchforcing-pass${Number($("step").value) + 1}.png`;
    link.click();
  });
  window.patchforcingViewer = {framePNG};

  // ---- the static page ----

  function initStatic(data) {
    $("static-runs").hidden = false;
    data.runs.forEach((r, i) => $("static-select").add(new Option(r.title, String(i))));
    const open = () => {
      const chosen = data.runs[Number($("static-select").value)];
      show(chosen.summary);
      for (const event of chosen.events) dispatch(event.kind, event.data);
      play();
    };
    $("static-select").addEventListener("change", open);
    open();
  }

  init();
})();
