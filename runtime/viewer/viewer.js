// The reactor viewer: connects to this server with Reactor protocol v1 (the same calls the
// published JS client makes), plays every track, draws one control per state field from
// GET /schema, and shows the server's errors and live fps / latency. A model that reads the
// client's camera or microphone gets a button per track (with a preview of what is sent); an
// upload field or file parameter gets a file picker. Plain JS, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const API_HEADERS = { "Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1" };
  const RTC_HEADERS = { Authorization: "Bearer local", "Reactor-WebRTC-Version": "1.0" };
  const PING_MS = 1000;

  // What tests and curious people can read from the page.
  const viewer = {
    status: "disconnected",
    sessionId: null,
    framesShown: 0,
    fps: null,
    latencyMs: null,
    rttMs: null,
    errors: [],
    messages: [],
    schema: null,
    sent: [],
    sending: {},
    uploads: [],
  };
  window.reactorViewer = viewer;

  let pc = null;
  let channel = null;
  let pingTimer = null;
  let statsTimer = null;
  let base = "";
  const inputs = new Map(); // input track name -> { transceiver, stream, button, preview }

  function setStatus(status, detail) {
    viewer.status = status;
    const el = $("status");
    el.dataset.status = status;
    el.textContent = detail ? `${status}: ${detail}` : status;
    $("connect").textContent = status === "disconnected" || status === "error" ? "Connect" : "Disconnect";
  }

  async function json(method, path, body, headers) {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(base + path, init);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    return { status: response.status, data };
  }

  function reason(reply) {
    return (reply.data && (reply.data.message || reply.data.error)) || `HTTP ${reply.status}`;
  }

  // -- state controls from the schema -------------------------------------------------------

  function commandSchemas(schema) {
    const commands = {};
    for (const [path, item] of Object.entries(schema.paths || {})) {
      if (!path.startsWith("/commands/") || !item.post) continue;
      const body = (((item.post.requestBody || {}).content || {})["application/json"] || {}).schema || {};
      commands[path.slice("/commands/".length)] = { summary: item.post.summary || "", body };
    }
    return commands;
  }

  function stateFields(schema) {
    const state = ((schema.components || {}).schemas || {}).State || {};
    return state.properties || {};
  }

  function send(type, data, scope = "application", uploads = null) {
    if (!channel || channel.readyState !== "open") return false;
    const inner = { type, data };
    if (uploads && Object.keys(uploads).length) inner.uploads = uploads;
    channel.send(JSON.stringify({ scope, data: inner }));
    if (scope === "application") {
      viewer.sent.push({ type, data });
      if (viewer.sent.length > 100) viewer.sent.shift();
    }
    return true;
  }

  function typed(spec, raw) {
    if (spec.type === "integer") return Number.parseInt(raw, 10);
    if (spec.type === "number") return Number.parseFloat(raw);
    if (Array.isArray(spec.enum)) {
      const match = spec.enum.find((choice) => String(choice) === raw);
      return match === undefined ? raw : match;
    }
    return raw;
  }

  function isUpload(spec) {
    return typeof spec.$ref === "string" && spec.$ref.endsWith("/ReactorUploadReference");
  }

  // What the JS client's uploadFile() does: reserve a slot, PUT the bytes, announce the file.
  async function upload(file) {
    if (!viewer.sessionId) throw new Error("connect first: a file is uploaded into a session");
    const meta = { name: file.name || "upload", size: file.size, mime_type: file.type || "application/octet-stream" };
    const slot = await json("POST", `/sessions/${viewer.sessionId}/uploads`, meta, API_HEADERS);
    if (slot.status !== 201) throw new Error(`upload of ${meta.name} refused: ${reason(slot)}`);
    const put = await fetch(slot.data.presigned_url, { method: "PUT", body: file });
    if (!put.ok) {
      let text = "";
      try { text = (await put.json()).message; } catch (_) { text = `HTTP ${put.status}`; }
      throw new Error(`upload of ${meta.name} failed: ${text}`);
    }
    const ref = { upload_id: slot.data.presigned_id, ...meta };
    send("fileUploaded", ref, "runtime");
    viewer.uploads.push(ref);
    return ref;
  }

  function showError(error) {
    addLine("errors", String((error && error.message) || error), viewer.errors);
  }

  function filePicker(name, onFile) {
    const input = document.createElement("input");
    input.type = "file";
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      if (file) onFile(file).catch(showError);
    });
    return input;
  }

  function controlFor(name, spec) {
    const row = document.createElement("div");
    row.className = "field";
    const label = document.createElement("label");
    label.textContent = name;
    label.htmlFor = `field-${name}`;
    const value = document.createElement("span");
    value.className = "value";
    let input;
    const command = `set_${name}`;
    const sendValue = (v) => send(command, { [name]: v });
    const isNumber = spec.type === "integer" || spec.type === "number";
    if (isUpload(spec)) {
      input = filePicker(name, async (file) => {
        const ref = await upload(file);
        send(command, {}, "application", { [name]: ref });
        value.textContent = file.name;
      });
    } else if (spec.type === "boolean") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.checked = Boolean(spec.default);
      input.addEventListener("change", () => sendValue(input.checked));
    } else if (Array.isArray(spec.enum)) {
      input = document.createElement("select");
      for (const choice of spec.enum) {
        const option = document.createElement("option");
        option.value = String(choice);
        option.textContent = String(choice);
        input.append(option);
      }
      if (spec.default !== undefined) input.value = String(spec.default);
      input.addEventListener("change", () => sendValue(typed(spec, input.value)));
    } else if (isNumber && typeof spec.minimum === "number" && typeof spec.maximum === "number") {
      input = document.createElement("input");
      input.type = "range";
      input.min = spec.minimum;
      input.max = spec.maximum;
      input.step = spec.type === "integer" ? 1 : (spec.maximum - spec.minimum) / 200 || "any";
      input.value = spec.default !== undefined ? spec.default : spec.minimum;
      value.textContent = input.value;
      input.addEventListener("input", () => {
        value.textContent = input.value;
        sendValue(typed(spec, input.value));
      });
    } else if (isNumber) {
      input = document.createElement("input");
      input.type = "number";
      input.step = spec.type === "integer" ? 1 : "any";
      if (spec.default !== undefined) input.value = spec.default;
      input.addEventListener("change", () => sendValue(typed(spec, input.value)));
    } else {
      input = document.createElement("input");
      input.type = "text";
      if (spec.default !== undefined) input.value = spec.default;
      input.addEventListener("change", () => sendValue(input.value));
    }
    input.id = `field-${name}`;
    input.name = name;
    input.dataset.command = command;
    row.append(label, input, value);
    if (spec.description) {
      const hint = document.createElement("small");
      hint.textContent = spec.description;
      row.append(hint);
    }
    return row;
  }

  function eventFor(name, command) {
    const row = document.createElement("div");
    row.className = "event";
    const inputs = {};
    const files = {};
    for (const [param, spec] of Object.entries(command.body.properties || {})) {
      if (isUpload(spec)) {
        const picker = filePicker(param, async (file) => { files[param] = file; });
        picker.title = spec.description || param;
        picker.id = `event-${name}-${param}`;
        row.append(picker);
        continue;
      }
      const input = document.createElement("input");
      input.placeholder = param;
      input.title = spec.description || param;
      input.type = spec.type === "integer" || spec.type === "number" ? "number" : "text";
      if (spec.default !== undefined) input.value = spec.default;
      inputs[param] = [input, spec];
      row.append(input);
    }
    const button = document.createElement("button");
    button.type = "button";
    button.id = `event-${name}`;
    button.textContent = name;
    button.title = command.summary;
    button.addEventListener("click", async () => {
      const data = {};
      for (const [param, [input, spec]] of Object.entries(inputs)) {
        if (input.value !== "") data[param] = spec.type === "boolean" ? input.value === "true" : typed(spec, input.value);
      }
      const uploads = {};
      try {
        for (const [param, file] of Object.entries(files)) uploads[param] = await upload(file);
      } catch (error) {
        showError(error);
        return;
      }
      send(name, data, "application", uploads);
    });
    row.prepend(button);
    return row;
  }

  function drawControls(schema) {
    viewer.schema = schema;
    $("title").textContent = (schema.info && schema.info.title) || "reactor";
    document.title = `${$("title").textContent} · reactor viewer`;
    const form = $("controls");
    form.replaceChildren();
    for (const [name, spec] of Object.entries(stateFields(schema))) form.append(controlFor(name, spec));
    const events = $("events");
    events.replaceChildren();
    for (const [name, command] of Object.entries(commandSchemas(schema))) {
      if (!name.startsWith("set_")) events.append(eventFor(name, command));
    }
  }

  // -- messages from the server ---------------------------------------------------------------

  function addLine(listId, text, store) {
    store.push(text);
    if (store.length > 200) store.shift();
    const item = document.createElement("li");
    item.textContent = text;
    const list = $(listId);
    list.prepend(item);
    while (list.children.length > 20) list.lastChild.remove();
  }

  function onMessage(event) {
    let message;
    try { message = JSON.parse(event.data); } catch (_) { return; }
    const scope = message && message.scope;
    const inner = (message && message.data) || {};
    if (scope === "runtime") {
      if (inner.type === "pong" && inner.data && typeof inner.data.t === "number") {
        viewer.rttMs = performance.now() - inner.data.t;
      } else if (inner.type === "error") {
        const data = inner.data || {};
        addLine("errors", data.message || JSON.stringify(data), viewer.errors);
      }
      return;
    }
    addLine("messages", JSON.stringify(scope === "application" ? inner : message), viewer.messages);
  }

  // -- live figures ---------------------------------------------------------------------------

  let lastDecoded = null;
  async function sampleStats() {
    if (!pc) return;
    const report = await pc.getStats();
    let decoded = 0;
    let jitterDelay = 0;
    let emitted = 0;
    let decodeTime = 0;
    report.forEach((stat) => {
      if (stat.type === "inbound-rtp" && stat.kind === "video") {
        decoded += stat.framesDecoded || 0;
        jitterDelay += stat.jitterBufferDelay || 0;
        emitted += stat.jitterBufferEmittedCount || 0;
        decodeTime += stat.totalDecodeTime || 0;
      }
    });
    const now = performance.now();
    if (lastDecoded) {
      const seconds = (now - lastDecoded.at) / 1000;
      viewer.fps = seconds > 0 ? (decoded - lastDecoded.decoded) / seconds : null;
    }
    if (emitted > 0) {
      // One-way network time plus time in the jitter buffer plus decoding, per frame.
      const buffer = (1000 * jitterDelay) / emitted;
      const decode = decoded > 0 ? (1000 * decodeTime) / decoded : 0;
      viewer.latencyMs = (viewer.rttMs || 0) / 2 + buffer + decode;
    }
    lastDecoded = { at: now, decoded };
    $("fps").textContent = viewer.fps === null ? "–" : viewer.fps.toFixed(1);
    $("latency").textContent = viewer.latencyMs === null ? "–" : viewer.latencyMs.toFixed(0);
  }

  function countFrames(video) {
    const tick = () => {
      viewer.framesShown += 1;
      $("frames").textContent = String(viewer.framesShown);
      if (video.isConnected) video.requestVideoFrameCallback(tick);
    };
    if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(tick);
  }

  // -- the client's camera and microphone ------------------------------------------------------

  function inputFigure(track, transceiver) {
    const figure = document.createElement("figure");
    figure.className = "input";
    const button = document.createElement("button");
    button.type = "button";
    button.id = `input-${track.name}`;
    const what = track.kind === "video" ? "camera" : "microphone";
    button.textContent = `Start ${what}`;
    button.disabled = true;
    let preview = null;
    if (track.kind === "video") {
      preview = document.createElement("video");
      preview.id = `preview-${track.name}`;
      preview.muted = true;
      preview.autoplay = true;
      preview.playsInline = true;
      preview.className = "preview";
    }
    const caption = document.createElement("figcaption");
    caption.textContent = `${track.name} (your ${what}, sent to the model)`;
    figure.append(button, ...(preview ? [preview] : []), caption);
    const entry = { transceiver, stream: null, button, preview, what };
    inputs.set(track.name, entry);
    button.addEventListener("click", () => toggleInput(track, entry).catch(showError));
    return figure;
  }

  // What the JS client's publishTrack / unpublishTrack do: replaceTrack on the sendonly sender.
  async function toggleInput(track, entry) {
    if (entry.stream) {
      await stopInput(track.name, entry);
      return;
    }
    const constraints = track.kind === "video" ? { video: true, audio: false } : { audio: true, video: false };
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    const media = stream.getTracks()[0];
    await entry.transceiver.sender.replaceTrack(media);
    entry.stream = stream;
    if (entry.preview) entry.preview.srcObject = stream;
    entry.button.textContent = `Stop ${entry.what}`;
    viewer.sending[track.name] = true;
  }

  async function stopInput(name, entry) {
    if (!entry.stream) return;
    entry.stream.getTracks().forEach((t) => t.stop());
    entry.stream = null;
    if (entry.preview) entry.preview.srcObject = null;
    entry.button.textContent = `Start ${entry.what}`;
    viewer.sending[name] = false;
    try { await entry.transceiver.sender.replaceTrack(null); } catch (_) { /* peer closed */ }
  }

  function enableInputs(enabled) {
    for (const entry of inputs.values()) entry.button.disabled = !enabled;
  }

  // -- connecting -----------------------------------------------------------------------------

  function waitForGathering(peer, ms) {
    return new Promise((resolve) => {
      if (peer.iceGatheringState === "complete") return resolve();
      const done = () => {
        if (peer.iceGatheringState === "complete") {
          peer.removeEventListener("icegatheringstatechange", done);
          resolve();
        }
      };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ms);
    });
  }

  async function connect() {
    setStatus("connecting");
    // Each session starts from the model's default state: show those values again.
    if (viewer.schema) drawControls(viewer.schema);
    const started = await json("POST", "/start_session", {}, API_HEADERS);
    if (started.status !== 200) throw new Error(reason(started));
    const session = started.data;
    viewer.sessionId = session.session_id;
    const transport = `/sessions/${session.session_id}/transport/webrtc`;
    const servers = await json("GET", `${transport}/ice_servers`, undefined, RTC_HEADERS);
    if (servers.status !== 200) throw new Error(reason(servers));
    const iceServers = servers.data.ice_servers.map((s) => ({
      urls: s.uris,
      ...(s.credentials ? { username: s.credentials.username, credential: s.credentials.password } : {}),
    }));
    pc = new RTCPeerConnection({ iceServers });
    channel = pc.createDataChannel("data");
    channel.addEventListener("message", onMessage);
    channel.addEventListener("open", () => {
      pingTimer = setInterval(() => send("ping", { t: performance.now() }, "runtime"), PING_MS);
      send("ping", { t: performance.now() }, "runtime");
    });
    const tracks = session.capabilities.tracks;
    const area = $("tracks");
    area.replaceChildren();
    const byTransceiver = new Map();
    inputs.clear();
    for (const track of tracks) {
      if (track.direction === "sendonly") {
        const sender = pc.addTransceiver(track.kind, { direction: "sendonly" });
        area.append(inputFigure(track, sender));
        continue;
      }
      const transceiver = pc.addTransceiver(track.kind, { direction: "recvonly" });
      const figure = document.createElement("figure");
      const media = document.createElement(track.kind === "video" ? "video" : "audio");
      media.autoplay = true;
      media.playsInline = true;
      media.muted = track.kind === "video";
      media.controls = track.kind === "audio";
      media.dataset.track = track.name;
      media.id = `track-${track.name}`;
      const caption = document.createElement("figcaption");
      caption.textContent = `${track.name} (${track.kind})`;
      figure.append(media, caption);
      area.append(figure);
      byTransceiver.set(transceiver, media);
      if (track.kind === "video") countFrames(media);
    }
    pc.addEventListener("track", (event) => {
      const media = byTransceiver.get(event.transceiver);
      if (media) media.srcObject = event.streams[0] || new MediaStream([event.track]);
    });
    pc.addEventListener("connectionstatechange", () => {
      const state = pc && pc.connectionState;
      enableInputs(state === "connected");
      if (state === "connected") setStatus("streaming");
      else if (state === "failed") setStatus("error", "connection failed");
      else if (state === "disconnected" || state === "closed") setStatus("disconnected");
    });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc, 5000);
    const mapping = tracks.map((track, i) => ({
      mid: pc.getTransceivers()[i].mid,
      name: track.name,
      kind: track.kind,
      direction: track.direction === "sendonly" ? "sendonly" : "recvonly",
    }));
    const offered = await json("POST", `${transport}/sdp_params`, {
      sdp_offer: pc.localDescription.sdp,
      client_info: { sdk_version: "viewer", sdk_type: "js" },
      track_mapping: mapping,
    }, RTC_HEADERS);
    if (offered.status !== 202) throw new Error(reason(offered));
    let answer = null;
    for (let wait = 100; answer === null; wait = Math.min(wait * 2, 1600)) {
      const polled = await json("GET", `${transport}/sdp_params`, undefined, RTC_HEADERS);
      if (polled.status === 200) answer = polled.data.sdp_answer;
      else if (polled.status === 202) await new Promise((r) => setTimeout(r, wait));
      else throw new Error(reason(polled));
    }
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    statsTimer = setInterval(() => sampleStats().catch(() => {}), 1000);
  }

  async function disconnect() {
    for (const [name, entry] of inputs) await stopInput(name, entry);
    enableInputs(false);
    clearInterval(pingTimer);
    clearInterval(statsTimer);
    if (channel) channel.close();
    if (pc) pc.close();
    pc = null;
    channel = null;
    lastDecoded = null;
    // The session is named: behind `reactor run --replicas N` several run at one address.
    const stopping = { session_id: viewer.sessionId };
    if (viewer.sessionId) await json("POST", "/stop_session", stopping, API_HEADERS).catch(() => {});
    viewer.sessionId = null;
    setStatus("disconnected");
  }

  $("connect").addEventListener("click", () => {
    if (viewer.status === "disconnected" || viewer.status === "error") {
      connect().catch((error) => {
        addLine("errors", String(error.message || error), viewer.errors);
        setStatus("error", String(error.message || error));
        disconnect().then(() => setStatus("error", String(error.message || error)));
      });
    } else {
      disconnect();
    }
  });
  window.addEventListener("pagehide", () => {
    // A string body (text/plain) is one a beacon may always carry; the servers read it as JSON.
    const stopping = JSON.stringify({ session_id: viewer.sessionId });
    if (viewer.sessionId) navigator.sendBeacon(base + "/stop_session", stopping);
  });

  json("GET", "/schema")
    .then((reply) => {
      if (reply.status === 200) drawControls(reply.data);
      if (new URLSearchParams(location.search).has("autoconnect")) $("connect").click();
    })
    .catch((error) => addLine("errors", `cannot read /schema: ${error}`, viewer.errors));
})();
