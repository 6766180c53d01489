// Test harness: Reactor's published client (@reactor-team/js-sdk), unchanged, driven from a
// page. tests/server/test_server_browser.py bundles this with esbuild and calls window.harness.
import { Reactor } from "@reactor-team/js-sdk";

const state = {
  status: "disconnected",
  tracks: [],
  messages: [],
  runtimeMessages: [],
  errors: [],
  capabilities: null,
};

let reactor = null;
const files = {}; // FileRefs from uploadFile, by file name, for sendCommand

window.harness = {
  state,
  async connect(apiUrl, modelName) {
    reactor = new Reactor({ modelName, local: true, apiUrl });
    reactor.on("statusChanged", (s) => { state.status = s; });
    reactor.on("message", (m) => state.messages.push(m));
    reactor.on("runtimeMessage", (m) => state.runtimeMessages.push(m));
    reactor.on("error", (e) => state.errors.push(e));
    reactor.on("capabilitiesReceived", (c) => { state.capabilities = c; });
    reactor.on("trackReceived", (name, track, stream) => {
      state.tracks.push({ name, kind: track.kind });
      const el = document.createElement(track.kind === "video" ? "video" : "audio");
      el.id = `track-${name}`;
      el.autoplay = true;
      el.muted = true;
      el.playsInline = true;
      el.srcObject = stream;
      document.body.append(el);
    });
    await reactor.connect();
    return reactor.getStatus();
  },
  send(command, data, scope) {
    return reactor.sendCommand(command, data, scope);
  },
  // The camera (Chromium's fake one in the tests) published with the client's publishTrack.
  async publishCamera(name) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    await reactor.publishTrack(name, track);
    const { width, height } = track.getSettings();
    return { width, height };
  },
  async unpublish(name) {
    await reactor.unpublishTrack(name);
  },
  // A file made from base64 bytes, uploaded with the client's uploadFile; returns its FileRef.
  async upload(base64, name, type) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const ref = await reactor.uploadFile(new File([bytes], name, { type }));
    files[name] = ref;
    return { uploadId: ref.uploadId, name: ref.name, mimeType: ref.mimeType, size: ref.size };
  },
  // sendCommand with a FileRef among the values: the client moves it to the uploads section.
  sendFile(command, param, name, data) {
    return reactor.sendCommand(command, { ...(data || {}), [param]: files[name] });
  },
  async disconnect() {
    await reactor.disconnect();
    return reactor.getStatus();
  },
};
