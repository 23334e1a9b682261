// The demo page: every crop goes to POST /predict, exactly as any client would send it.
// No framework and no external asset; the API key, when the server needs one, stays in this
// tab's sessionStorage and is sent only to this server.
"use strict";

const KEY_STORAGE = "gennet-api-key";
const $ = (selector) => document.querySelector(selector);
const state = { threshold: null, classNames: ["male", "female"] };

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

function authHeaders() {
  const key = apiKey();
  return key ? { "X-API-Key": key } : {};
}

// "400 invalid_image: not a decodable image", from the API's own error body when it has one.
async function describeError(response) {
  let text = `${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body && body.error) {
      text = `${response.status} ${body.error.code}: ${body.error.message}`;
    }
  } catch (_) {
    // not JSON: keep the status line
  }
  return text;
}

function askForKey(message) {
  const form = $("#key-form");
  form.hidden = false;
  if (message) showBanner(message);
  $("#api-key").focus();
}

function showBanner(text) {
  const banner = $("#banner");
  banner.textContent = text;
  banner.hidden = !text;
}

async function loadModel() {
  const info = $("#model");
  let response;
  try {
    response = await fetch("model", { headers: authHeaders() });
  } catch (err) {
    info.textContent = `The server did not answer: ${err.message}`;
    return;
  }
  if (response.status === 401) {
    info.textContent = "Enter the API key to see the model.";
    askForKey(apiKey() ? "The API key was refused." : "");
    return;
  }
  if (!response.ok) {
    info.textContent = `Model metadata: ${await describeError(response)}`;
    return;
  }
  const model = await response.json();
  state.threshold = model.threshold;
  state.classNames = model.class_names;
  const cameras = model.calibration ? Object.entries(model.calibration.cameras) : [];
  $("#cameras").replaceChildren(
    ...cameras.map(([name, threshold]) => new Option(`threshold ${threshold}`, name)),
  );
  $("#key-form").hidden = true;
  showBanner("");
  info.textContent =
    `${model.name} ${model.version}: ${model.class_names[0]} when P(${model.class_names[0]}) ` +
    `\u2265 ${model.threshold}`;
  info.dataset.threshold = String(model.threshold);
}

function percent(p) {
  return `${(100 * p).toFixed(1)} %`;
}

function newCard(file) {
  const card = $("#card").content.firstElementChild.cloneNode(true);
  const img = card.querySelector("img");
  img.addEventListener("error", () => (img.hidden = true)); // not an image the browser shows
  img.src = URL.createObjectURL(file);
  img.alt = file.name;
  card.querySelector(".name").textContent = file.name;
  $("#results").append(card);
  return card;
}

function showPrediction(card, answer, roundTripMs) {
  const male = answer.probabilities.male;
  card.dataset.status = "done";
  card.dataset.label = answer.label;
  card.classList.add(answer.label);
  card.querySelector(".label").textContent = answer.label;
  card.querySelector(".score").textContent = percent(answer.score);
  card.querySelector(".p-male").textContent = male.toFixed(4);
  card.querySelector(".p-male").dataset.value = String(male);
  card.querySelector(".p-female").textContent = answer.probabilities.female.toFixed(4);
  card.querySelector(".p-female").dataset.value = String(answer.probabilities.female);
  const threshold = answer.threshold ?? state.threshold; // the one applied, camera's or default
  const camera = answer.camera ? ` (camera ${answer.camera})` : "";
  card.querySelector(".threshold").textContent =
    threshold === null ? "unknown" : `${state.classNames[0]} at \u2265 ${threshold}${camera}`;
  card.querySelector(".tta").textContent = answer.tta ? "on" : "off";
  card.querySelector(".latency").textContent =
    `${answer.latency_ms.toFixed(1)} ms server, ${roundTripMs.toFixed(1)} ms round trip`;
  card.querySelector(".fill").style.width = percent(male).replace(" ", "");
  if (threshold !== null) card.querySelector(".mark").style.left = `${100 * threshold}%`;
}

function showError(card, text) {
  card.dataset.status = "error";
  card.querySelector(".label").textContent = "error";
  card.querySelector(".error-text").textContent = text;
}

async function classify(file) {
  const card = newCard(file);
  const tta = $("#tta").checked;
  const camera = $("#camera").value.trim();
  const query = `tta=${tta}` + (camera ? `&camera=${encodeURIComponent(camera)}` : "");
  const form = new FormData();
  form.append("file", file, file.name);
  const started = performance.now();
  let response;
  try {
    response = await fetch(`predict?${query}`, {
      method: "POST",
      body: form,
      headers: authHeaders(),
    });
  } catch (err) {
    showError(card, `no answer: ${err.message}`);
    return;
  }
  const roundTripMs = performance.now() - started;
  if (!response.ok) {
    showError(card, await describeError(response));
    if (response.status === 401) askForKey("The API key is missing or wrong.");
    return;
  }
  showPrediction(card, await response.json(), roundTripMs);
}

function classifyAll(files) {
  const images = Array.from(files);
  if (images.length === 0) return;
  showBanner("");
  return Promise.all(images.map(classify));
}

function wireDropZone() {
  const drop = $("#drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    classifyAll(event.dataTransfer.files);
  });
  $("#files").addEventListener("change", (event) => {
    classifyAll(event.target.files);
    event.target.value = ""; // the same file can be chosen again
  });
}

function wireControls() {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("#api-key").value);
    $("#api-key").value = "";
    loadModel();
  });
  $("#clear").addEventListener("click", () => {
    for (const img of document.querySelectorAll("#results img")) URL.revokeObjectURL(img.src);
    $("#results").replaceChildren();
  });
}

wireDropZone();
wireControls();
loadModel();
