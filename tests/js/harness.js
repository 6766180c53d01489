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
  async disconnect() {
    await reactor.disconnect();
    return reactor.getStatus();
  },
};
